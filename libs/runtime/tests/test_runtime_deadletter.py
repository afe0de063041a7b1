"""A job whose process died on every delivery: the MAX_DELIVERIES advisory becomes ``failed(dead_letter)``.

The deliveries are fetched and never answered, as a process killed mid-job would leave them; the
watcher starts only after the advisory fired, as when every replica was down at that moment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from medialab_contracts import subjects
from medialab_contracts.catalog import default_catalog
from medialab_contracts.events import DeadLetter, FailureReason, JobFailed, parse_job_event
from medialab_contracts.modes import Mode
from medialab_runtime.deadletter import DeadLetterWatcher
from medialab_runtime.events import EventPublisher
from medialab_runtime.job_state import JobState
from medialab_runtime.provisioning import ensure_layout
from medialab_testkit.waiting import eventually
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

DURABLE = "dying-runner"
ACK_WAIT_S = 0.5


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_layout(js)
    yield js
    await nc.close()


async def test_an_advisory_fired_while_no_watcher_ran_still_fails_the_job(js: JetStreamContext) -> None:
    config = ConsumerConfig(
        durable_name=DURABLE,
        filter_subject="jobs.text.>",
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ACK_WAIT_S,
        max_deliver=2,
    )
    await js.add_consumer(subjects.JOBS_STREAM, config)
    sub = await js.pull_subscribe_bind(durable=DURABLE, stream=subjects.JOBS_STREAM)
    job = default_catalog().by_key("txt").job(Mode.text, 7, 7, overlay_text="hi")
    await js.publish(job.subject, job.model_dump_json().encode(), headers={"Nats-Msg-Id": job.job_id})
    for delivery in (1, 2):  # taken, never answered: the process died each time
        (msg,) = await sub.fetch(1, timeout=5)
        assert msg.metadata.num_delivered == delivery
    # The next pull, as a restarted runner's, makes the server give up on the job: the advisory.
    with pytest.raises(nats.errors.TimeoutError):
        await sub.fetch(1, timeout=ACK_WAIT_S * 3)

    async def advisory_kept() -> bool:
        info = await js.stream_info(subjects.ADVISORIES_STREAM)
        return info.state.messages == 1

    await eventually(advisory_kept)

    state = await JobState.open(js)
    watcher = DeadLetterWatcher(js, EventPublisher(js, "test"), state, DURABLE)
    await watcher.start()
    try:

        async def failed_and_recorded() -> bool:
            return await state.final_event(job.job_id) is not None

        await eventually(failed_and_recorded)
    finally:
        await watcher.stop()
    last = await js.get_last_msg(subjects.EVENTS_STREAM, subjects.event_subject(job.job_id, "failed"))
    failed = parse_job_event(last.data or b"")
    assert isinstance(failed, JobFailed) and failed.reason is FailureReason.dead_letter
    dead_letters = f"{subjects.DEAD_LETTER_SUBJECT_PREFIX}.{job.job_id}"
    record = await js.get_last_msg(subjects.EVENTS_STREAM, dead_letters)
    assert DeadLetter.model_validate_json(record.data or b"").deliveries == 2
    with pytest.raises(NotFoundError):  # the job left the work queue
        await js.get_last_msg(subjects.JOBS_STREAM, job.subject)
    consumer = await js.consumer_info(subjects.ADVISORIES_STREAM, f"{DURABLE}-deadletters")
    assert consumer.num_ack_pending == 0 and consumer.num_pending == 0
