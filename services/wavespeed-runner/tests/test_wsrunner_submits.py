"""The account's limits over two replicas, and submits whose answer was lost: one task, never two."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from medialab_contracts.events import FailureReason, JobFailed, JobSucceeded
from medialab_sandbox.wavespeed import Target, WaveSpeedEmulator
from medialab_testkit.wavespeed import Bus, RunnerFactory, make_job

EMU_WINDOW_S = 1.0
# Ours is a little longer: a start is stamped here just before the request reaches WaveSpeed.
RUNNER_WINDOW_S = 1.5


def most_in_any_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered if start <= t < start + window) for start in ordered)


async def test_two_replicas_keep_to_the_accounts_start_rate_and_in_progress_limit(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    # WaveSpeed refuses a 3rd start within its window; its concurrency is left high, so the cap on
    # tasks in progress seen below is ours alone.
    emu.set_limits(max_concurrency=50, starts_per_minute=2)
    emu.configure(rate_window_seconds=EMU_WINDOW_S, processing_seconds=0.6)
    for _ in range(2):
        await start_runner(
            wavespeed_max_in_progress=2,
            wavespeed_starts_per_minute=2,
            wavespeed_start_window_s=RUNNER_WINDOW_S,
        )
    jobs = [make_job(await bus.face_and_target(str(i))) for i in range(5)]
    results = await asyncio.gather(*(bus.run(job, timeout=60) for job in jobs))
    assert all(isinstance(r, JobSucceeded) for r in results), results
    assert [s.status_code for s in emu.records.submits] == [200] * 5  # not one 429
    created = [task.created_at for task in emu.tasks()]
    assert len(created) == 5
    assert most_in_any_window(created, EMU_WINDOW_S) <= 2, sorted(created)
    assert emu.records.max_processing_seen() <= 2


def hang_after_create(emu: WaveSpeedEmulator) -> None:
    emu.faults.hang(Target.SUBMIT, after_create=True)  # held until the emulator stops


def bad_gateway_after_create(emu: WaveSpeedEmulator) -> None:
    emu.faults.fail_submits(502, after_create=True)


@pytest.mark.parametrize("lose_answer", [hang_after_create, bad_gateway_after_create])
async def test_a_task_created_behind_a_lost_answer_is_found_not_submitted_again(
    emu: WaveSpeedEmulator,
    bus: Bus,
    start_runner: RunnerFactory,
    lose_answer: Callable[[WaveSpeedEmulator], None],
) -> None:
    await start_runner(wavespeed_http_timeout_s=0.5)
    lose_answer(emu)
    result = await bus.run(make_job(await bus.face_and_target()), timeout=30)
    assert isinstance(result, JobSucceeded), result
    assert len(emu.records.submits) == 1 and len(emu.tasks()) == 1
    assert emu.records.counts["history"] >= 1


async def test_a_5xx_before_any_task_existed_is_looked_up_then_sent_again(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner(wavespeed_lookup_attempts=2)
    emu.faults.fail_submits(503)
    result = await bus.run(make_job(await bus.face_and_target()), timeout=30)
    assert isinstance(result, JobSucceeded), result
    assert [s.status_code for s in emu.records.submits] == [503, 200]
    assert len(emu.tasks()) == 1
    assert emu.records.counts["history"] == 2  # absent twice before sending it again


@pytest.mark.parametrize("lose_answer", [hang_after_create, bad_gateway_after_create])
async def test_when_the_list_cannot_tell_the_job_fails_instead_of_risking_a_second_task(
    emu: WaveSpeedEmulator,
    bus: Bus,
    start_runner: RunnerFactory,
    lose_answer: Callable[[WaveSpeedEmulator], None],
) -> None:
    await start_runner(wavespeed_http_timeout_s=0.5)
    emu.configure(history_inputs=False)  # a server ignoring include_inputs
    lose_answer(emu)
    result = await bus.run(make_job(await bus.face_and_target()), timeout=30)
    assert isinstance(result, JobFailed), result
    assert result.reason is FailureReason.provider_error
    assert "not charged" in result.detail and "inputs" in result.detail
    assert len(emu.records.submits) == 1 and len(emu.tasks()) == 1


async def test_a_job_that_cannot_get_a_start_before_its_deadline_fails_busy_without_a_submit(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner(wavespeed_starts_per_minute=1, wavespeed_start_window_s=600)
    first = await bus.run(make_job(await bus.face_and_target("a")))
    assert isinstance(first, JobSucceeded), first
    late = await bus.run(make_job(await bus.face_and_target("b"), deadline_s=5), timeout=15)
    # WaveSpeed had no room for it (the account's start rate): busy, not a job that ran too long.
    assert isinstance(late, JobFailed) and late.reason is FailureReason.provider_busy, late
    assert "start" in late.detail
    assert len(emu.records.submits) == 1


async def test_jobs_waiting_for_a_start_or_a_slot_hear_their_place_in_our_queue(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    # One start per window and one task at a time: of three jobs sent together, one starts at once
    # and the other two wait in our queue (for the next start, then for the slot), hearing their place.
    emu.configure(rate_window_seconds=EMU_WINDOW_S, processing_seconds=0.3)
    await start_runner(
        wavespeed_max_in_progress=1, wavespeed_starts_per_minute=1, wavespeed_start_window_s=RUNNER_WINDOW_S
    )
    jobs = [make_job(await bus.face_and_target(f"q{i}")) for i in range(3)]
    results = await asyncio.gather(*(bus.run(job, timeout=60) for job in jobs))
    assert all(isinstance(r, JobSucceeded) for r in results), results
    places = [
        [
            p.queue_position
            for p in bus.progress(job.job_id)
            if p.stage == "queued" and p.queue_position is not None
        ]
        for job in jobs
    ]
    # The two that could not start at once heard their place (when each arrives depends on its uploads).
    assert sum(1 for job_places in places if job_places) >= 2, places
