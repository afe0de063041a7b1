"""Every kind of WaveSpeed failure ends the way it should: retried and succeeded, or failed with a reason.

Task level (HTTP 200, ``status: failed``): 1xxx codes are final, 5xxx are submitted again.
HTTP level: 401 is final (provider_unavailable), 429 / 5xx / 504 are retried with backoff.
"""

from __future__ import annotations

import time

import httpx
import pytest
from medialab_contracts.events import FailureReason, JobFailed, JobSucceeded
from medialab_runtime.http_retry import Transient
from medialab_sandbox.wavespeed import HttpFault, Target, TaskErrorCode, WaveSpeedEmulator
from medialab_testkit.wavespeed import KEY, Bus, RunnerFactory, make_job
from prometheus_client import REGISTRY
from wavespeed_runner.api import WaveSpeedClient, parse_prediction
from wavespeed_runner.errors import WaveSpeedRejected

TASK_FAILURES = [
    (TaskErrorCode.CONTENT_MODERATION, None, FailureReason.moderation),
    (TaskErrorCode.TASK_EXECUTION_FAILED, None, FailureReason.no_face),  # "no face detected in the image"
    (TaskErrorCode.TASK_FAILED, "Face not detected in the target image.", FailureReason.no_face),
    (TaskErrorCode.MISSING_PARAMETER, None, FailureReason.bad_input),
    (TaskErrorCode.INVALID_PARAMETER, None, FailureReason.bad_input),
    (TaskErrorCode.MEDIA_ACCESS_FAILED, None, FailureReason.bad_input),
    (TaskErrorCode.TASK_EXECUTION_FAILED, "Task execution failed.", FailureReason.provider_error),
]


def retries(call: str, cause: str) -> float:
    return (
        REGISTRY.get_sample_value("medialab_wavespeed_retries_total", {"call": call, "cause": cause}) or 0.0
    )


async def test_1xxx_task_errors_fail_at_once_with_the_reason_the_code_names(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    for code, message, reason in TASK_FAILURES:
        await emu.reset()
        emu.faults.fail_tasks(code, message)
        result = await bus.run(make_job(await bus.face_and_target(str(code))))
        assert isinstance(result, JobFailed) and result.reason == reason, (code, message, result)
        assert f"code {int(code)}" in result.detail
        assert len(emu.records.submits) == 1, code  # never retried


async def test_5xxx_task_errors_are_submitted_again_without_new_uploads(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner(wavespeed_task_attempts=3)
    emu.faults.fail_tasks(TaskErrorCode.INTERNAL_ERROR)
    emu.faults.fail_tasks(TaskErrorCode.TIMEOUT)
    result = await bus.run(make_job(await bus.face_and_target("a")))
    assert isinstance(result, JobSucceeded), result
    first, second, third = emu.records.submits
    assert (
        first.body == second.body == third.body and len({first.task_id, second.task_id, third.task_id}) == 3
    )
    assert len(emu.records.uploads) == 2

    # WaveSpeed keeps failing: the job fails after the configured number of tasks.
    await emu.reset()
    emu.faults.fail_tasks(TaskErrorCode.SERVICE_UNAVAILABLE, count=3)
    result = await bus.run(make_job(await bus.face_and_target("b")))
    assert isinstance(result, JobFailed) and result.reason == FailureReason.provider_error, result
    assert "after 3 tasks" in result.detail and len(emu.records.submits) == 3


async def test_429_5xx_and_504_are_retried_until_the_job_succeeds(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    before = {cause: retries("poll", cause) for cause in ("429", "500", "502", "503", "504")}
    emu.faults.inject(Target.UPLOAD, HttpFault(status=503), count=2)
    emu.faults.inject(Target.STORAGE_PUT, HttpFault(status=502))
    emu.faults.fail_submits(429, count=2)
    emu.faults.fail_submits(503)
    emu.faults.fail_submits(504)
    for status in (429, 500, 502, 503, 504):
        emu.faults.fail_polls(status)
    result = await bus.run(make_job(await bus.face_and_target()))
    assert isinstance(result, JobSucceeded), result
    assert [s.status_code for s in emu.records.submits] == [429, 429, 503, 504, 200]
    assert emu.records.counts["tasks_created"] == 1
    assert [p.status_code for p in emu.records.polls][:5] == [429, 500, 502, 503, 504]
    assert all(retries("poll", cause) == before[cause] + 1 for cause in before)
    assert emu.faults.pending().faults == {target: [] for target in Target}


async def test_retry_after_is_honoured(emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory) -> None:
    await start_runner()
    emu.faults.fail_submits(429, retry_after=1)
    result = await bus.run(make_job(await bus.face_and_target()))
    assert isinstance(result, JobSucceeded), result
    refused, accepted = emu.records.submits
    assert accepted.at - refused.at >= 0.95


@pytest.mark.parametrize(
    ("arm", "reason", "submits"),
    [
        (lambda emu: emu.faults.fail_submits(401), FailureReason.provider_unavailable, 1),
        (lambda emu: emu.faults.fail_polls(401), FailureReason.provider_unavailable, 1),
        (lambda emu: emu.faults.fail_submits(400), FailureReason.provider_rejected, 1),
        (lambda emu: emu.faults.fail_submits(503, count=50), FailureReason.provider_error, 4),
        (lambda emu: emu.faults.fail_submits(429, count=50), FailureReason.provider_busy, 4),
    ],
    ids=["submit-401", "poll-401", "submit-400", "submit-503-forever", "submit-429-forever"],
)
async def test_final_http_answers_and_exhausted_retries_fail_the_job(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory, arm, reason: FailureReason, submits: int
) -> None:
    await start_runner(wavespeed_max_attempts=4)
    arm(emu)
    result = await bus.run(make_job(await bus.face_and_target()))
    assert isinstance(result, JobFailed) and result.reason == reason, result
    assert len(emu.records.submits) == submits


async def test_a_wrong_key_fails_as_provider_unavailable_and_is_never_logged(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "ws-wrong-key-fedcba9876543210"
    await start_runner(wavespeed_api_key=wrong, log_level="DEBUG")
    result = await bus.run(make_job(await bus.face_and_target()))
    assert isinstance(result, JobFailed) and result.reason == FailureReason.provider_unavailable, result
    assert "HTTP 401" in result.detail and wrong not in result.detail
    assert emu.records.submits == [] and emu.records.uploads == []
    logs = capsys.readouterr().err
    assert "wavespeed-runner started" in logs and wrong not in logs and KEY not in logs


async def test_polls_failing_until_the_deadline_end_in_timeout(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    emu.faults.fail_polls(503, count=10_000)
    result = await bus.run(make_job(await bus.face_and_target(), deadline_s=5), timeout=15)
    assert isinstance(result, JobFailed) and result.reason == FailureReason.timeout, result
    assert len(emu.records.submits) == 1 and len(emu.records.polls) >= 2


@pytest.mark.parametrize(
    ("envelope", "outcome"),
    [
        ({"code": 500, "message": "internal error", "data": None}, Transient),
        ({"code": 401, "message": "invalid authentication", "data": None}, WaveSpeedRejected),
        ({"code": 200, "message": "success", "data": {"id": "t1", "status": "processing"}}, None),
    ],
)
async def test_the_envelope_code_of_an_http_200_counts(envelope: dict, outcome: type | None) -> None:
    """WaveSpeed's MCP server checks ``code`` on HTTP 200 too (wavespeed.md §6); no emulator knob sends it."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200, json=envelope)))
    client = WaveSpeedClient(http, KEY, api_base="http://wavespeed.test")
    try:
        if outcome is None:
            prediction = await client.result("t1", time.monotonic() + 5)
            assert (prediction.task_id, prediction.status, prediction.terminal) == ("t1", "processing", False)
        else:
            with pytest.raises(outcome):
                await client.result("t1", time.monotonic() + 5)
    finally:
        await client.aclose()


def test_outputs_flagged_has_nsfw_contents_are_never_delivered() -> None:
    data = {"id": "t1", "status": "completed", "outputs": ["https://o/1.png"], "has_nsfw_contents": [True]}
    assert parse_prediction(data, "result").safe_outputs == ()
    data["has_nsfw_contents"] = [False]
    assert parse_prediction(data, "result").safe_outputs == ("https://o/1.png",)
