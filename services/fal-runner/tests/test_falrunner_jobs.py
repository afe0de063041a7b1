"""fal-runner end to end in-process: real NATS, the fal emulator over HTTP, the real composition root."""

from __future__ import annotations

import asyncio
import io
import time

import httpx
from fal_runner.fal_api import OUTPUT_HOSTS
from medialab_contracts.events import FailureReason, JobFailed, JobSucceeded
from medialab_contracts.jobs import ImageSize, JobRequest
from medialab_runtime.images import MAX_UPLOAD_BYTES
from medialab_runtime.job_state import JobState
from medialab_runtime.provider_keys import fingerprint
from medialab_sandbox.fal import (
    FalEmulator,
    Phase,
    content_policy_violation,
    field_error,
    forbidden,
    infra_error,
    model_error,
    rate_limited,
    temporarily_disabled,
)
from medialab_sandbox.fal.testing import key_header
from medialab_testkit.fal import KEY, OTHER_KEY, Bus, RunnerFactory, make_job
from medialab_testkit.images import bomb_png, image_bytes
from PIL import Image
from prometheus_client import REGISTRY


async def test_text_to_image_stores_a_png_result_and_reports_progress(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    fal.set_latency(queue_seconds=0.1, run_seconds=0.1)
    job = make_job("nb", size=ImageSize(width=1472, height=2048))
    result = await bus.run(job)
    assert isinstance(result, JobSucceeded), result
    [output] = result.outputs
    assert output.object_name == f"results/{job.job_id}/0.png" and output.content_type == "image/png"
    stored = await bus.media.get(output.object_name)
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "PNG" and image.size == (output.width, output.height)
    assert output.size_bytes == len(stored)
    [submit] = fal.submits()
    assert submit.body == {
        "prompt": job.prompt,
        "num_images": 1,
        "output_format": "png",
        "limit_generations": True,
        "aspect_ratio": "3:4",
    }
    # Files kept a day at most, and a request that cannot start before our deadline is dropped unbilled.
    assert submit.lifecycle == {"expiration_duration_seconds": 86_400}
    assert submit.request_timeout_s is not None and 1 < submit.request_timeout_s < job.deadline_s
    assert 150 <= result.provider_ms < 5000
    assert {p.stage for p in bus.progress(job.job_id)} >= {"queued", "running"}


async def test_variants_return_every_image_fal_gave_even_fewer_than_asked(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    four = await bus.run(make_job("nb", images=4))
    fal.short_results(1)
    three = await bus.run(make_job("nb", images=4))
    assert isinstance(four, JobSucceeded) and isinstance(three, JobSucceeded), (four, three)
    assert [s.body["num_images"] for s in fal.submits()] == [4, 4]
    assert [o.object_name for o in four.outputs] == [f"results/{four.job_id}/{n}.png" for n in range(4)]
    assert len(three.outputs) == 3  # billing returns the fourth image's price


async def test_sizes_map_to_each_models_arguments(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    horizontal = ImageSize(width=2048, height=1472)
    jobs = [
        make_job("nbp", size=horizontal),
        make_job("sd", size=horizontal),
        make_job("flux", aspect_ratio="16:9"),
    ]
    results = await asyncio.gather(*(bus.run(job) for job in jobs))
    assert all(isinstance(r, JobSucceeded) for r in results), results
    bodies = {s.model_id: s.body for s in fal.submits()}
    assert bodies["fal-ai/nano-banana-pro"]["aspect_ratio"] == "4:3"
    assert bodies["fal-ai/nano-banana-pro"]["resolution"] == "2K"
    assert bodies["fal-ai/bytedance/seedream/v4/text-to-image"]["image_size"] == {
        "width": 2048,
        "height": 1472,
    }
    assert bodies["fal-ai/flux/dev"]["image_size"] == {"width": 1024, "height": 576}
    sd_output = results[1].outputs[0]  # type: ignore[union-attr]
    assert (sd_output.width, sd_output.height) == (2048, 1472)


async def test_edit_inputs_small_png_untouched_big_photo_recompressed(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    small_png = image_bytes((820, 820), noisy=True)
    big_photo = image_bytes((2900, 2100), fmt="JPEG", noisy=True, quality=100)
    assert len(small_png) < MAX_UPLOAD_BYTES < 11 * 1024 * 1024 < len(big_photo)
    inputs = [await bus.put_input("in/a.png", small_png), await bus.put_input("in/b.jpg", big_photo)]
    job = make_job("nbe", inputs=inputs, prompt="put them together")
    result = await bus.run(job, timeout=30)
    assert isinstance(result, JobSucceeded), result
    [submit] = fal.submits()
    first, second = (fal.file_bytes(url) for url in submit.body["image_urls"])
    assert first == small_png
    assert second is not None and len(second) < MAX_UPLOAD_BYTES
    with Image.open(io.BytesIO(second)) as sent:
        assert sent.format == "JPEG" and sent.size == (2900, 2100)
    assert "aspect_ratio" not in submit.body  # the edit keeps the inputs' shape ("auto")
    # Users' photos on fal's public CDN expire after a day.
    assert fal.recorder.upload_lifecycles == [{"expiration_duration_seconds": 86_400}] * 2


async def test_upscale_sends_png_and_a_webp_result_arrives_as_png(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    fal.set_upscale_format("webp")
    photo = await bus.put_input("in/photo.jpg", image_bytes((300, 200), fmt="JPEG"))
    result = await bus.run(make_job("ups", inputs=[photo], prompt=""))
    assert isinstance(result, JobSucceeded), result
    [submit] = fal.submits()
    sent = fal.file_bytes(submit.body["image_url"])
    assert sent is not None and sent.startswith(b"\x89PNG")
    stored = await bus.media.get(result.outputs[0].object_name)
    with Image.open(io.BytesIO(stored)) as image:
        image.load()
        assert image.format == "PNG" and image.size == (600, 400)


async def test_bad_inputs_fail_with_reason_codes_and_never_reach_fal(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    text = await bus.put_input("in/notes.jpg", b"this is a shopping list, not a photo\n" * 20)
    bomb = await bus.put_input("in/bomb.png", bomb_png())
    corrupt = await bus.put_input("in/cut.jpg", image_bytes((400, 400), fmt="JPEG", noisy=True)[:5000])
    cases = {
        FailureReason.not_an_image: make_job("ret", inputs=[text]),
        FailureReason.image_too_large: make_job("ret", inputs=[bomb]),
        FailureReason.bad_image: make_job("ret", inputs=[corrupt]),
    }
    for reason, job in cases.items():
        result = await bus.run(job)
        assert isinstance(result, JobFailed) and result.reason == reason, result
    # An input no longer stored (it expired) is told apart: the user sends it again.
    missing = make_job("nbe", inputs=[text.model_copy(update={"object_name": "in/nowhere.png"})])
    gone = await bus.run(missing)
    assert isinstance(gone, JobFailed) and gone.reason == FailureReason.input_gone, gone
    unknown_model = make_job("nb", model_id="fal-ai/does-not-exist")
    for job in (unknown_model, make_job("nb", prompt="  ")):
        result = await bus.run(job)
        assert isinstance(result, JobFailed) and result.reason == FailureReason.bad_input, result
    assert fal.submits() == []


async def test_provider_refusals_end_as_failed_with_a_reason_and_no_raw_body(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    cases = [
        (
            lambda: fal.fail_jobs(field_error(["prompt"], "too long, secret-ish text")),
            FailureReason.provider_rejected,
        ),
        (lambda: fal.fail_jobs(content_policy_violation("a red fox")), FailureReason.moderation),
        (lambda: fal.fail_jobs(model_error(500, "CUDA out of memory")), FailureReason.provider_error),
        (
            lambda: fal.fail_submits(temporarily_disabled("fal-ai/nano-banana")),
            FailureReason.provider_unavailable,
        ),
        (lambda: fal.lock_key(KEY), FailureReason.provider_unavailable),
    ]
    for arm, reason in cases:
        arm()
        result = await bus.run(make_job("nb"))
        fal.reset()
        assert isinstance(result, JobFailed), result
        assert result.reason == reason, result
        assert "secret-ish" not in result.detail and "a red fox" not in result.detail
        assert KEY not in result.detail


async def test_a_key_fal_refuses_leaves_the_rotation_and_its_jobs_run_on_another(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner(fal_keys=f"{KEY},{OTHER_KEY}")
    fal.lock_key(KEY, "Exhausted balance")  # fal answers every call on it 403 "User is locked"

    def benched() -> float | None:
        return REGISTRY.get_sample_value(
            "medialab_fal_key_benched", {"account": fingerprint(KEY), "key": fingerprint(KEY)}
        )

    # Jobs one at a time until one drew the locked key (each draws either key): it still succeeds.
    for n in range(40):
        result = await bus.run(make_job("nb", prompt=f"fox {n}"), timeout=30)
        assert isinstance(result, JobSucceeded), result
        if benched() == 1:
            break
    assert benched() == 1
    # From then on the key is out of the rotation: submits and uploads go to the other key.
    photo = await bus.put_input("in/locked.png", image_bytes((64, 64)))
    jobs = [make_job("nb", prompt=f"owl {n}") for n in range(6)] + [make_job("nbe", inputs=[photo])]
    results = await asyncio.gather(*(bus.run(job, timeout=30) for job in jobs))
    assert all(isinstance(result, JobSucceeded) for result in results), results
    assert len(fal.submits(key=OTHER_KEY)) == len(fal.submits()) == n + 1 + len(jobs)


async def test_a_403_that_is_not_a_lock_benches_no_key(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner(fal_keys=f"{KEY},{OTHER_KEY}")
    fal.fail_submits(forbidden(), count=4)  # one endpoint refusing us, not the account

    def benched(key: str) -> float | None:
        labels = {"account": fingerprint(key), "key": fingerprint(key)}
        return REGISTRY.get_sample_value("medialab_fal_key_benched", labels)

    results = [await bus.run(make_job("nb", prompt=f"fox {n}")) for n in range(4)]
    assert all(isinstance(r, JobFailed) and r.reason == FailureReason.provider_rejected for r in results)
    assert benched(KEY) == benched(OTHER_KEY) == 0
    assert len(fal.submits()) == 4  # each refusal final: no second key tried
    result = await bus.run(make_job("nb", prompt="fox again"))
    assert isinstance(result, JobSucceeded), result


async def test_429_and_5xx_bursts_are_retried_until_the_job_succeeds(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    fal.fail_submits(rate_limited(), count=3)
    fal.fail_submits(infra_error(503), count=2)
    fal.fail_polls(infra_error(502), count=3, phases=[Phase.STATUS])
    fal.fail_polls(infra_error(500), count=2, phases=[Phase.RESULT])
    result = await bus.run(make_job("nb"))
    assert isinstance(result, JobSucceeded), result
    assert [s.rejected_status for s in fal.submits()] == [429, 429, 429, 503, 503, None]


async def test_fal_still_rate_limiting_after_every_retry_is_busy_not_a_timeout(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner(fal_max_attempts=3)
    fal.fail_submits(rate_limited(), count=50)
    result = await bus.run(make_job("nb"))
    assert isinstance(result, JobFailed) and result.reason == FailureReason.provider_busy, result


async def test_no_slot_free_before_the_deadline_is_busy_not_a_timeout(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner(fal_concurrency_per_account=1)
    fal.slow_jobs(60)
    holder = make_job("nb", deadline_s=8)  # holds the account's only slot at fal
    await bus.publish(holder)
    await bus.wait_until(lambda: len(fal.submits()) == 1)
    waiter = make_job("nb", deadline_s=5)
    await bus.publish(waiter)
    result = await bus.wait_final(waiter.job_id, timeout=10)
    assert isinstance(result, JobFailed) and result.reason == FailureReason.provider_busy, result
    held = await bus.wait_final(holder.job_id, timeout=10)
    assert isinstance(held, JobFailed) and held.reason == FailureReason.timeout, held


async def test_a_job_past_its_deadline_is_cancelled_at_fal(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    fal.slow_jobs(60)
    job = make_job("nb", deadline_s=5)
    result = await bus.run(job, timeout=10)
    assert isinstance(result, JobFailed) and result.reason == FailureReason.timeout, result
    [submit] = fal.submits()
    assert submit.request_id is not None
    cancelled = fal.job(submit.request_id)
    assert cancelled is not None and cancelled.outcome is not None and cancelled.outcome.status_code == 499


async def test_a_redelivered_job_resumes_its_fal_request_instead_of_submitting_again(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    job = make_job("nb")
    fal.set_latency(run_seconds=0.3)
    # What an earlier delivery left behind when it died right after submitting.
    async with httpx.AsyncClient() as http:
        submitted = await http.post(
            f"{fal.queue_base}/{job.model_id}", json={"prompt": job.prompt}, headers=key_header(KEY)
        )
    urls = submitted.json()
    state = await JobState.open(bus.nc.jetstream())
    await state.update(
        job.job_id,
        fal_request_id=urls["request_id"],
        fal_status_url=urls["status_url"],
        fal_response_url=urls["response_url"],
        fal_cancel_url=urls["cancel_url"],
        fal_key=fingerprint(KEY),
    )
    await start_runner()
    result = await bus.run(job)
    assert isinstance(result, JobSucceeded), result
    assert len(fal.submits()) == 1
    record = await state.get(job.job_id)
    assert record["fal_request_id"] == urls["request_id"] and "final_event" in record


async def test_a_request_fal_forgot_is_submitted_again(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    job = make_job("nb")
    gone = f"{fal.queue_base}/fal-ai/nano-banana/requests/00000000-0000-0000-0000-000000000000"
    await (await JobState.open(bus.nc.jetstream())).update(
        job.job_id,
        fal_request_id="00000000-0000-0000-0000-000000000000",
        fal_status_url=f"{gone}/status",
        fal_response_url=gone,
        fal_cancel_url=f"{gone}/cancel",
        fal_key=fingerprint(KEY),
    )
    await start_runner()
    result = await bus.run(job)
    assert isinstance(result, JobSucceeded), result
    assert len(fal.submits()) == 1


async def test_a_two_second_job_is_polled_at_most_twenty_times(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    fal.set_latency(run_seconds=2.0)
    result = await bus.run(make_job("nb"))
    assert isinstance(result, JobSucceeded), result
    [polls] = fal.status_polls().values()
    # fal's own client polls every 0.1 s: 20 calls in 2 s; ours back off as the request ages.
    assert 2 <= polls <= 20, polls


async def test_waiting_for_a_slot_shows_the_place_in_our_queue(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner(fal_concurrency_per_account=1)
    fal.set_latency(run_seconds=1.0)
    jobs = [make_job("nb", prompt=f"fox {n}") for n in range(3)]
    results = await asyncio.gather(*(bus.run(job, timeout=30) for job in jobs))
    assert all(isinstance(result, JobSucceeded) for result in results), results
    queued = [[p for p in bus.progress(job.job_id) if p.stage == "queued"] for job in jobs]
    places = [[p.queue_position for p in events if p.queue_position is not None] for events in queued]
    # One ran at once; the others heard their place while they waited for the account's slot.
    assert sorted(max(p, default=-1) for p in places)[1:] == [0, 1], places


async def test_a_waiting_job_hears_an_estimate_from_the_models_recent_jobs(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner(fal_concurrency_per_account=1)
    fal.set_latency(run_seconds=1.0)

    async def timed(job: JobRequest) -> tuple[JobSucceeded | JobFailed, float]:
        started = time.monotonic()
        result = await bus.run(job, timeout=30)
        return result, time.monotonic() - started

    warm = await timed(make_job("nb", prompt="warm-up"))  # one done: a hold time known
    jobs = [make_job("nb", prompt=f"owl {n}") for n in range(3)]
    runs = [warm, *await asyncio.gather(*(timed(job) for job in jobs))]
    assert all(isinstance(result, JobSucceeded) for result, _ in runs), runs
    estimates = {
        p.queue_position: p.eta_s
        for job in jobs
        for p in bus.progress(job.job_id)
        if p.stage == "queued" and p.eta_s is not None
    }
    assert set(estimates) >= {0, 1}, estimates
    # With one slot, a waiter with n jobs ahead waits n + 1 turns and runs: n + 2 slot-holds of the
    # model's recent jobs. A hold lasts at least fal's 1 s and at most a whole job (how much more than
    # 1 s depends on the machine's load, so the bound is what these jobs took here).
    longest = max(seconds for _, seconds in runs)
    holds = {position: eta / (position + 2) for position, eta in estimates.items()}
    assert all(1.0 <= hold <= longest for hold in holds.values()), (estimates, longest)
    assert estimates[1] > estimates[0], estimates


async def test_an_output_off_fals_cdn_fails_the_job_unfetched(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    """With production's allow-list, the emulator's loopback CDN URL is a foreign host."""
    await start_runner(fal_output_hosts=OUTPUT_HOSTS)
    job = make_job("nb")
    result = await bus.run(job)
    assert isinstance(result, JobFailed) and result.reason == FailureReason.provider_error, result
    assert "127.0.0.1, not a fal CDN host: not fetched" in result.detail
    assert len(fal.submits()) == 1
    assert not await bus.media.exists(f"results/{job.job_id}/0.png")


async def _cancel_while_at_fal(fal: FalEmulator, bus: Bus, job_id: str) -> None:
    """Once the job's request is running at fal, its owner cancels it (what billing.cancel writes)."""
    await bus.wait_until(lambda: bool(fal.submits()), timeout=15)
    state = await JobState.open(bus.nc.jetstream())
    assert await state.cancel(job_id) == "requested"


async def test_a_job_cancelled_while_at_fal_is_cancelled_there_and_fails_as_cancelled(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    fal.slow_jobs(60)
    job = make_job("nb", seed=42)
    await bus.publish(job)
    await _cancel_while_at_fal(fal, bus, job.job_id)
    result = await bus.wait_final(job.job_id, timeout=30)
    assert isinstance(result, JobFailed) and result.reason == FailureReason.cancelled, result
    [submit] = fal.submits()
    assert submit.body["seed"] == 42
    assert [(c.request_id, c.status) for c in fal.recorder.cancels] == [
        (submit.request_id, "CANCELLATION_REQUESTED")
    ]


async def test_with_fal_cancel_running_off_a_job_at_fal_runs_to_its_end(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner(fal_cancel_running=False)
    fal.slow_jobs(2)
    job = make_job("nb")
    await bus.publish(job)
    await _cancel_while_at_fal(fal, bus, job.job_id)
    result = await bus.wait_final(job.job_id, timeout=30)
    assert isinstance(result, JobSucceeded), result
    assert fal.recorder.cancels == []
