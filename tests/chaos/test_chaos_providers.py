"""Providers misbehaving — 429, 5xx, slow jobs, connections that hang — under a short job deadline.

Guarantees: every job ends by its deadline (plus the time to publish the failure), exactly once,
charged only if it succeeded; and once the stack is idle no provider slot is held (the ``slots``
bucket is empty and the runner's in-use gauge is back at 0), so a misbehaving provider never eats
into the concurrency limit for good.
"""

from __future__ import annotations

import pytest
from medialab_contracts.events import FailureReason, JobFailed
from medialab_contracts.jobs import JobRequest
from medialab_sandbox.fal import Phase, infra_error, rate_limited
from medialab_sandbox.wavespeed import Target
from medialab_testkit.chaos import Bus, ChaosStack, Oracle, faceswap_job, flux_job
from medialab_testkit.waiting import eventually

pytestmark = pytest.mark.chaos

DEADLINE_S = 10
# A job's failure is decided at its deadline; publishing it takes a moment more.
DEADLINE_SLACK_S = 1.5


async def assert_deadlines_held(client: Bus, jobs: list[JobRequest]) -> list[JobFailed]:
    failures = []
    for job in jobs:
        final = await client.final_event(job.job_id)
        took = (final.at - job.created_at).total_seconds()
        assert took <= job.deadline_s + DEADLINE_SLACK_S, f"{job.job_id} ended after {took:.1f}s"
        if isinstance(final, JobFailed):
            failures.append(final)
    return failures


async def assert_no_slot_held(stack: ChaosStack, client: Bus, provider: str, runner: str) -> None:
    await eventually(client.no_slots_held(provider), 15, f"{provider} slots free when idle")
    assert await stack.metric(runner, f"medialab_{provider}_slots_in_use") == 0


async def test_fal_faults_keep_deadlines_and_free_every_slot(
    stack: ChaosStack, client: Bus, oracle: Oracle
) -> None:
    async with stack.fal() as fal:
        await fal.set_latency(run_seconds=0.5)
        await fal.fail_submits(rate_limited(), count=4)
        await fal.fail_submits(infra_error(503), count=3)
        await fal.hang(count=2, phases=[Phase.SUBMIT])
        await fal.hang(count=2, phases=[Phase.STATUS])
        await fal.fail_polls(infra_error(502), count=4)
        await fal.slow_jobs(60.0, count=2)  # far past the deadline
    users = [await oracle.new_user() for _ in range(2)]
    jobs = [flux_job(users[n % 2].user_id, f"falfault-{n}", deadline_s=DEADLINE_S) for n in range(10)]
    for job in jobs:
        await client.start_job(job)

    verdict = await oracle.verify([job.job_id for job in jobs], timeout=40)
    failures = await assert_deadlines_held(client, jobs)
    assert [f.reason for f in failures] == [FailureReason.timeout] * 2, failures
    assert verdict.count("succeeded") == len(jobs) - 2
    async with stack.fal() as fal:
        refused = [s.rejected_status for s in await fal.submits() if "falfault-" in str(s.body)]
    assert sorted(code for code in refused if code) == [429] * 4 + [503] * 3  # every fault was met
    await assert_no_slot_held(stack, client, "fal", "fal-runner")


async def test_wavespeed_faults_keep_deadlines_and_free_every_slot(
    stack: ChaosStack, client: Bus, oracle: Oracle
) -> None:
    async with stack.wavespeed() as wavespeed:
        await wavespeed.configure(processing_seconds=0.5)
        await wavespeed.fail_submits(429, count=3)
        await wavespeed.fail_submits(500, count=2)
        await wavespeed.hang(Target.SUBMIT, count=1)
        await wavespeed.fail_polls(503, count=4)
        await wavespeed.hang(Target.POLL, count=2)
        await wavespeed.slow_tasks(60.0, count=2)
    users = [await oracle.new_user() for _ in range(2)]
    jobs = [
        await faceswap_job(client, users[n % 2].user_id, f"wsfault-{n}", deadline_s=DEADLINE_S)
        for n in range(8)
    ]
    for job in jobs:
        await client.start_job(job)

    verdict = await oracle.verify([job.job_id for job in jobs], timeout=40)
    failures = await assert_deadlines_held(client, jobs)
    assert [f.reason for f in failures] == [FailureReason.timeout] * 2, failures
    assert verdict.count("succeeded") == len(jobs) - 2
    async with stack.wavespeed() as wavespeed:
        pending = (await wavespeed.state()).pending
    assert not any(pending.faults.values()) and not pending.slow_tasks  # every fault was met
    await assert_no_slot_held(stack, client, "wavespeed", "wavespeed-runner")
