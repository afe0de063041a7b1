import asyncio
import contextlib
from collections.abc import AsyncIterator

import nats
import pytest
from medialab_contracts import subjects
from medialab_contracts.events import FailureReason, JobFailed, JobSucceeded, parse_job_event
from medialab_contracts.jobs import JobRequest
from medialab_contracts.modes import Mode, Runner
from medialab_contracts.signing import JOB_SIGNATURE_HEADER, sign_job
from medialab_runtime.events import EventPublisher
from medialab_runtime.job_state import CancelMark, JobState
from medialab_runtime.jobs import ConsumerSettings, JobConsumer, JobControl, JobResult, RetryLater
from medialab_runtime.provisioning import ensure_layout
from nats.aio.client import Client
from nats.js import JetStreamContext
from prometheus_client import REGISTRY


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[tuple[Client, JetStreamContext]]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_layout(js)
    yield nc, js
    await nc.close()


def make_job(**overrides: object) -> JobRequest:
    fields: dict[str, object] = dict(
        user_id=7,
        chat_id=7,
        mode=Mode.create,
        runner=Runner.text,
        model_key="txt",
        model_id="local/text-render",
        price=100,
    )
    fields.update(overrides)
    return JobRequest.model_validate(fields)


async def final_events(js: JetStreamContext, job_id: str, timeout: float = 5.0) -> list[JobResult]:
    sub = await js.subscribe(f"events.job.{job_id}.*", ordered_consumer=True)
    found: list[JobResult] = []
    with contextlib.suppress(TimeoutError, nats.errors.TimeoutError):
        while True:
            msg = await sub.next_msg(timeout=timeout if not found else 0.3)
            event = parse_job_event(msg.data)
            if isinstance(event, JobSucceeded | JobFailed):
                found.append(event)
    await sub.unsubscribe()
    return found


@contextlib.asynccontextmanager
async def running(
    js: JetStreamContext, handler, signing_key: bytes | None = None, **settings: object
) -> AsyncIterator[JobConsumer]:
    config = ConsumerSettings(
        durable="probe",
        filter_subject="jobs.text.>",
        ack_wait_s=2,
        backoff_base_s=0.05,
        backoff_max_s=0.1,
        **settings,  # type: ignore[arg-type]
    )
    consumer = JobConsumer(
        js, "probe", config, handler, EventPublisher(js, "probe"), await JobState.open(js), signing_key
    )
    task = asyncio.create_task(consumer.run())
    try:
        yield consumer
    finally:
        await consumer.stop(1)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def stream_size(js: JetStreamContext) -> int:
    return (await js.stream_info(subjects.JOBS_STREAM)).state.messages


async def test_success_is_published_once_and_acked(js) -> None:
    _, jsc = js
    calls: list[int] = []

    async def handler(job: JobRequest, control: JobControl) -> JobResult:
        calls.append(control.attempt)
        await control.progress(queue_position=2)
        return control.succeeded([], text="ok")

    job = make_job()
    async with running(jsc, handler):
        await jsc.publish(job.subject, job.model_dump_json().encode(), headers={"Nats-Msg-Id": job.job_id})
        events = await final_events(jsc, job.job_id)
    assert [type(e) for e in events] == [JobSucceeded]
    assert calls == [1]
    assert await stream_size(jsc) == 0


async def test_poison_message_is_terminated_not_retried(js) -> None:
    _, jsc = js
    calls: list[str] = []

    async def handler(job: JobRequest, control: JobControl) -> JobResult:
        calls.append(job.job_id)
        return control.succeeded([])

    async with running(jsc, handler):
        await jsc.publish("jobs.text.text", b"{not a job")
        for _ in range(50):
            if await stream_size(jsc) == 0:
                break
            await asyncio.sleep(0.05)
    assert await stream_size(jsc) == 0
    assert calls == []


def refused(reason: str) -> float:
    return (
        REGISTRY.get_sample_value("medialab_jobs_refused_total", {"service": "probe", "reason": reason}) or 0
    )


async def test_with_a_key_only_jobs_billing_signed_run(js, caplog: pytest.LogCaptureFixture) -> None:
    """A job on JOBS that billing did not sign (queued past billing, issue 17) is termed unrun."""
    _, jsc = js
    key, other_key = b"billing-key-" * 4, b"another-key-" * 4
    calls: list[str] = []

    async def handler(job: JobRequest, control: JobControl) -> JobResult:
        calls.append(job.job_id)
        return control.succeeded([], text="ok")

    async def publish(job: JobRequest, signature: str | None = None, subject: str | None = None) -> None:
        headers = {"Nats-Msg-Id": job.job_id}
        if signature is not None:
            headers[JOB_SIGNATURE_HEADER] = signature
        await jsc.publish(subject or job.subject, job.model_dump_json().encode(), headers=headers)

    unsigned, foreign, tampered, elsewhere, signed = (make_job() for _ in range(5))
    body = tampered.model_dump_json().encode()
    before = {reason: refused(reason) for reason in ("unsigned", "wrong_subject")}
    # One at a time, in stream order: the signed job's event comes after every refusal.
    async with running(jsc, handler, signing_key=key, concurrency=1):
        await publish(unsigned)
        await publish(foreign, sign_job(other_key, foreign.model_dump_json().encode()))
        cheaper = body.replace(b'"price":100', b'"price":1')
        await jsc.publish(tampered.subject, cheaper, headers={JOB_SIGNATURE_HEADER: sign_job(key, body)})
        await publish(elsewhere, sign_job(key, elsewhere.model_dump_json().encode()), "jobs.text.edit")
        await publish(signed, sign_job(key, signed.model_dump_json().encode()))
        events = await final_events(jsc, signed.job_id)
    assert [type(e) for e in events] == [JobSucceeded]
    assert calls == [signed.job_id]
    assert await stream_size(jsc) == 0  # termed, not left to come back
    info = await jsc.stream_info(subjects.EVENTS_STREAM, subjects_filter="events.>")
    assert set(info.state.subjects or {}) == {f"events.job.{signed.job_id}.succeeded"}
    assert refused("unsigned") - before["unsigned"] == 3
    assert refused("wrong_subject") - before["wrong_subject"] == 1
    assert not any(key.decode() in r.getMessage() or "billing-key" in r.getMessage() for r in caplog.records)
    assert any("refused unrun (unsigned)" in r.getMessage() for r in caplog.records)


async def test_without_a_key_jobs_are_not_checked(js) -> None:
    """The harnesses that queue jobs themselves (the dev JobBus, the benchmarks) run keyless runners."""
    _, jsc = js

    async def handler(job: JobRequest, control: JobControl) -> JobResult:
        return control.succeeded([], text="ok")

    job = make_job()
    async with running(jsc, handler):
        await jsc.publish(
            job.subject, job.model_dump_json().encode(), headers={JOB_SIGNATURE_HEADER: "0" * 64}
        )
        events = await final_events(jsc, job.job_id)
    assert [type(e) for e in events] == [JobSucceeded]


async def test_retry_later_then_success(js) -> None:
    _, jsc = js
    attempts: list[int] = []

    async def handler(job: JobRequest, control: JobControl) -> JobResult:
        attempts.append(control.attempt)
        if control.attempt < 3:
            raise RetryLater("provider busy", delay=0.05)
        return control.succeeded([])

    job = make_job()
    async with running(jsc, handler):
        await jsc.publish(job.subject, job.model_dump_json().encode())
        events = await final_events(jsc, job.job_id)
    assert attempts == [1, 2, 3]
    assert [type(e) for e in events] == [JobSucceeded]


async def test_exhausted_retries_fail_as_dead_letter(js) -> None:
    _, jsc = js

    async def handler(job: JobRequest, control: JobControl) -> JobResult:
        raise RetryLater("always busy", delay=0.01)

    job = make_job()
    async with running(jsc, handler, max_deliver=3):
        await jsc.publish(job.subject, job.model_dump_json().encode())
        events = await final_events(jsc, job.job_id)
    assert len(events) == 1
    assert isinstance(events[0], JobFailed)
    assert events[0].reason == FailureReason.dead_letter


async def test_redelivered_finished_job_republishes_without_running_again(js) -> None:
    _, jsc = js
    job = make_job()
    state = await JobState.open(jsc)
    done = JobSucceeded(job_id=job.job_id, user_id=7, chat_id=7, mode=Mode.create, text="old")
    await state.set_final_event(job.job_id, done.model_dump_json())
    calls: list[str] = []

    async def handler(job: JobRequest, control: JobControl) -> JobResult:
        calls.append(job.job_id)
        return control.succeeded([], text="new")

    async with running(jsc, handler):
        await jsc.publish(job.subject, job.model_dump_json().encode())
        events = await final_events(jsc, job.job_id)
    assert calls == []
    assert [e.text for e in events if isinstance(e, JobSucceeded)] == ["old"]


async def test_job_past_its_deadline_fails_with_timeout(js) -> None:
    _, jsc = js

    async def handler(job: JobRequest, control: JobControl) -> JobResult:
        await asyncio.sleep(30)
        return control.succeeded([])

    job = make_job(deadline_s=5)
    async with running(jsc, handler):
        await jsc.publish(job.subject, job.model_dump_json().encode())
        events = await final_events(jsc, job.job_id, timeout=8)
    assert isinstance(events[0], JobFailed)
    assert events[0].reason == FailureReason.timeout


async def test_a_call_timing_out_inside_the_handler_is_retried_not_a_job_timeout(js) -> None:
    """A NATS request timing out while the server restarts is not the job's deadline (chaos: nats)."""
    _, jsc = js
    attempts: list[int] = []

    async def handler(job: JobRequest, control: JobControl) -> JobResult:
        attempts.append(control.attempt)
        if control.attempt == 1:
            raise nats.errors.TimeoutError
        return control.succeeded([])

    job = make_job(deadline_s=60)
    async with running(jsc, handler):
        await jsc.publish(job.subject, job.model_dump_json().encode())
        events = await final_events(jsc, job.job_id)
    assert attempts == [1, 2]
    assert [type(e) for e in events] == [JobSucceeded]


async def test_cancel_meets_the_runner_on_one_record_so_exactly_one_side_wins(js) -> None:
    _, jsc = js
    state = await JobState.open(jsc)
    queued, running_job, ended = make_job(), make_job(), make_job()

    assert await state.cancel(queued.job_id) is CancelMark.queued
    assert await state.start(queued.job_id) is False  # cancelled first: it never starts
    assert await state.cancel(queued.job_id) is CancelMark.queued  # a second press: same answer

    assert await state.start(running_job.job_id) is True
    assert await state.cancel(running_job.job_id) is CancelMark.requested
    assert await state.cancel_requested(running_job.job_id)
    assert await state.start(running_job.job_id) is True  # a redelivery resumes it (and cancels there)

    await state.set_final_event(ended.job_id, "{}")
    assert await state.cancel(ended.job_id) is None


async def test_a_job_cancelled_before_it_started_fails_as_cancelled_without_running(js) -> None:
    _, jsc = js
    calls: list[str] = []

    async def handler(job: JobRequest, control: JobControl) -> JobResult:
        calls.append(job.job_id)
        return control.succeeded([], text="ok")

    job = make_job()
    assert await (await JobState.open(jsc)).cancel(job.job_id) is CancelMark.queued
    async with running(jsc, handler):
        await jsc.publish(job.subject, job.model_dump_json().encode(), headers={"Nats-Msg-Id": job.job_id})
        events = await final_events(jsc, job.job_id)
    assert [(type(e), getattr(e, "reason", None)) for e in events] == [(JobFailed, FailureReason.cancelled)]
    assert calls == []
    assert await stream_size(jsc) == 0


async def test_progress_cancel_flag_and_provider_handle_survive_nats_away(
    js: tuple[Client, JetStreamContext],
) -> None:
    """With NATS away (an election), a job at the provider goes on: its progress is skipped, its cancel
    flag reads as not yet, its handle stays unremembered; only what the job cannot do without fails."""
    nc, stream = js
    control = JobControl(make_job(), 1, await JobState.open(stream), EventPublisher(stream, "probe"), 0.0)
    await nc.close()
    await control.progress("running")
    assert await control.cancel_requested() is False
    await control.remember_handle(fal_request_id="r-1")
    with pytest.raises(nats.errors.Error):
        await control.remember(output="kept")
