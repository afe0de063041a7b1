"""Pacing and limits: polls never closer than the interval, a cluster-wide cap on tasks in flight."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest
from medialab_contracts.events import FailureReason, JobFailed, JobSucceeded
from medialab_sandbox.wavespeed import WaveSpeedEmulator
from medialab_testkit.wavespeed import Bus, RunnerFactory, make_job
from pydantic import ValidationError
from wavespeed_runner.execution import PollPolicy
from wavespeed_runner.settings import MissingApiKey, WaveSpeedRunnerSettings


def test_settings_come_from_the_environment_with_wavespeeds_poll_floor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WAVESPEED_API_KEY", "env-secret-key")
    monkeypatch.setenv("WAVESPEED_API_BASE", "http://127.0.0.1:9")
    monkeypatch.setenv("WAVESPEED_MAX_IN_PROGRESS", "3")
    monkeypatch.setenv("MAX_DELIVER", "7")
    settings = WaveSpeedRunnerSettings(_env_file=None)
    assert settings.wavespeed_poll_interval_s == 2.0  # WaveSpeed: "at least 2 seconds between checks"
    assert settings.wavespeed_model == "wavespeed-ai/image-face-swap"
    assert (settings.wavespeed_api_base, settings.max_deliver) == ("http://127.0.0.1:9", 7)
    account = settings.account()
    assert account.limit == 3 and account.keys[0].secret.get_secret_value() == "env-secret-key"
    assert "env-secret-key" not in repr(settings) and "env-secret-key" not in repr(account)
    monkeypatch.setenv("WAVESPEED_API_KEY", " ")
    with pytest.raises(MissingApiKey):
        WaveSpeedRunnerSettings(_env_file=None).account()
    with pytest.raises(ValidationError):
        WaveSpeedRunnerSettings(_env_file=None, wavespeed_poll_interval_s=5, wavespeed_poll_max_s=2)


def test_poll_delay_starts_at_the_interval_and_backs_off_on_long_tasks() -> None:
    policy = PollPolicy(interval_s=2.0, max_s=10.0, ratio=0.1)
    assert [policy.next_delay(t) for t in (0, 10, 20, 40, 80, 500)] == [2.0, 2.0, 2.0, 4.0, 8.0, 10.0]


async def test_polls_of_a_task_are_never_closer_than_the_interval(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    interval = 0.25
    await start_runner(wavespeed_poll_interval_s=interval, wavespeed_poll_max_s=0.5)
    emu.configure(processing_seconds=1.2)
    emu.faults.fail_polls(503, count=2)  # retries after failures keep the floor too
    result = await bus.run(make_job(await bus.face_and_target()))
    assert isinstance(result, JobSucceeded), result
    [submit] = emu.records.submits
    assert submit.task_id is not None
    times = [submit.at, *emu.records.poll_times(submit.task_id)]
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert len(gaps) >= 4 and min(gaps) >= interval * 0.95, gaps
    assert [p.status_code for p in emu.records.polls][:3] == [503, 503, 200]


async def test_tasks_in_flight_never_exceed_the_limit_across_replicas(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    # WaveSpeed (Silver here) would run them all at once; our slots hold them to 2 over both replicas.
    for _ in range(2):
        await start_runner(wavespeed_max_in_progress=2)
    emu.configure(processing_seconds=0.4)
    jobs = [make_job(await bus.face_and_target(str(i))) for i in range(6)]
    results = await asyncio.gather(*(bus.run(job, timeout=30) for job in jobs))
    assert all(isinstance(r, JobSucceeded) for r in results), results
    assert emu.records.max_processing_seen() == 2
    assert len(emu.records.submits) == 6


async def test_a_task_past_the_deadline_times_out_and_frees_its_slot(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner(wavespeed_max_in_progress=1)
    emu.faults.slow_tasks(60)
    late = await bus.run(make_job(await bus.face_and_target("a"), deadline_s=5), timeout=15)
    assert isinstance(late, JobFailed) and late.reason == FailureReason.timeout, late
    assert "deadline" in late.detail
    # A bound, not a figure: the slot is free at once, but a busy machine is slow to run the job.
    result = await bus.run(make_job(await bus.face_and_target("b")), timeout=30)
    assert isinstance(result, JobSucceeded), result


async def test_no_slot_free_before_the_deadline_is_busy_not_a_timeout(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner(wavespeed_max_in_progress=1)
    emu.faults.slow_tasks(60)
    # The holder keeps the only slot past the waiter's deadline; the waiter's deadline leaves its
    # uploads time enough on a busy machine to reach the wait for the slot.
    holder = make_job(await bus.face_and_target("a"), deadline_s=20)
    waiter = make_job(await bus.face_and_target("b"), deadline_s=12)
    await bus.publish(holder)
    await bus.wait_until(lambda: len(emu.records.submits) == 1)
    await bus.publish(waiter)
    waited = await bus.wait_final(waiter.job_id, timeout=30)
    held = await bus.wait_final(holder.job_id, timeout=30)
    assert isinstance(waited, JobFailed) and waited.reason == FailureReason.provider_busy, waited
    assert isinstance(held, JobFailed) and held.reason == FailureReason.timeout, held
