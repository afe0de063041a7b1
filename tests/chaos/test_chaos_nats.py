"""nats-server restarted (same port, file storage kept) in the middle of a burst of jobs: nothing lost.

Every process of the stack loses its connection at once: runners mid-job, billing's saga mid-settle,
the gateway mid-delivery, and this test mid-publish (it retries like a client would, with the same
``Nats-Msg-Id``). After the restart every job still ends exactly once, paid once, told once.
"""

from __future__ import annotations

import asyncio

import pytest
from medialab_contracts.jobs import JobRequest
from medialab_testkit.chaos import Bus, ChaosStack, Oracle, faceswap_job, flux_job

pytestmark = pytest.mark.chaos

BURST = 24
RATE_PER_S = 12.0


async def reserve_until_served(client: Bus, job: JobRequest) -> None:
    """billing.reserve is idempotent by job id: retried through the outage, it holds once."""
    for _ in range(100):
        try:
            await client.reserve(job)
            return
        except Exception:
            await asyncio.sleep(0.2)
    raise AssertionError(f"billing never reserved {job.job_id}")


async def test_nats_restart_during_a_burst_loses_no_job(
    stack: ChaosStack, client: Bus, oracle: Oracle
) -> None:
    async with stack.fal() as fal:
        await fal.set_latency(run_seconds=1.0)
    async with stack.wavespeed() as wavespeed:
        await wavespeed.configure(processing_seconds=1.0)
    users = [await oracle.new_user() for _ in range(4)]
    jobs: list[JobRequest] = []
    for n in range(BURST):
        user = users[n % len(users)].user_id
        jobs.append(
            await faceswap_job(client, user, f"nats-{n}") if n % 4 == 3 else flux_job(user, f"nats-{n}")
        )

    async def burst() -> None:
        for job in jobs:
            await reserve_until_served(client, job)
            await client.publish(job)
            await asyncio.sleep(1 / RATE_PER_S)

    sender = asyncio.create_task(burst())
    await asyncio.sleep(BURST / RATE_PER_S / 2)  # half the burst is out, most of it running
    await stack.restart_nats()
    await asyncio.wait_for(sender, 60)

    verdict = await oracle.verify([job.job_id for job in jobs], timeout=90)
    # The providers never failed: a restart of the bus is no reason for a job to fail.
    await verdict.assert_all_succeeded(client)
    for name in ("billing", "fal-runner", "wavespeed-runner", "gateway-bot"):
        assert await stack.metric(name, "medialab_nats_connected") == 1, name
