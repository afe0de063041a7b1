"""SIGKILL of each worker service in the middle of jobs, then a restart: nothing lost, nothing doubled.

Jobs go in as the gateway sends them (``billing.reserve``, then a ``JobRequest`` on JOBS) for users
who opened the chat, so the gateway delivers every result and every failure to a real transcript.
Each scenario ends with ``Oracle.verify``: one final event per job, charged once or released, the
ledger consistent, every user told.
"""

from __future__ import annotations

import asyncio

import pytest
from medialab_contracts.jobs import JobRequest
from medialab_sandbox.wavespeed import TaskStatus
from medialab_testkit.chaos import (
    FLUX,
    Bus,
    ChaosStack,
    Oracle,
    eventually,
    faceswap_job,
    flux_job,
    text_job,
)
from medialab_testkit.images import photo_jpeg

pytestmark = pytest.mark.chaos


async def fal_submits(stack: ChaosStack, tag: str) -> int:
    async with stack.fal() as fal:
        return sum(1 for s in await fal.submits(model=FLUX.model_id) if tag in str(s.body.get("prompt")))


async def finished(client: Bus, jobs: list[JobRequest]) -> int:
    finals = await client.final_counts()
    return sum(1 for job in jobs if job.job_id in finals)


async def redeliveries(stack: ChaosStack, service: str) -> float:
    """Jobs the (restarted) service got a second time: those the killed one had in hand."""
    return await stack.metric(service, "medialab_job_redeliveries_total")


async def test_fal_runner_killed_mid_jobs_every_job_finishes_once(
    stack: ChaosStack, client: Bus, oracle: Oracle
) -> None:
    async with stack.fal() as fal:
        await fal.set_latency(run_seconds=2.0)
    users = [await oracle.new_user() for _ in range(4)]
    jobs = [flux_job(user.user_id, f"falkill-{n}") for n in range(3) for user in users]
    for job in jobs:
        await client.start_job(job)

    async def in_flight() -> bool:
        return await fal_submits(stack, "falkill-") >= 8

    await eventually(in_flight, 20, "jobs submitted to fal")
    stack.kill("fal-runner")
    await asyncio.sleep(0.5)
    await stack.start_service("fal-runner")

    verdict = await oracle.verify([job.job_id for job in jobs], timeout=60)
    await verdict.assert_all_succeeded(client)
    assert await redeliveries(stack, "fal-runner") >= 1
    await eventually(client.no_slots_held("fal"), 15, "the dead runner's fal slots expired")


async def test_wavespeed_runner_killed_mid_jobs_every_job_finishes_once(
    stack: ChaosStack, client: Bus, oracle: Oracle
) -> None:
    async with stack.wavespeed() as wavespeed:
        await wavespeed.configure(processing_seconds=2.0)
    users = [await oracle.new_user() for _ in range(3)]
    jobs = [await faceswap_job(client, u.user_id, f"wskill-{u.user_id}-{n}") for n in range(2) for u in users]
    for job in jobs:
        await client.start_job(job)

    async def processing() -> bool:
        async with stack.wavespeed() as wavespeed:
            tasks = await wavespeed.tasks()
        return sum(1 for task in tasks if task.status == TaskStatus.PROCESSING) >= 3

    await eventually(processing, 20, "face swaps running at WaveSpeed")
    stack.kill("wavespeed-runner")
    await asyncio.sleep(0.5)
    await stack.start_service("wavespeed-runner")

    verdict = await oracle.verify([job.job_id for job in jobs], timeout=60)
    await verdict.assert_all_succeeded(client)
    assert await redeliveries(stack, "wavespeed-runner") >= 1
    await eventually(client.no_slots_held("wavespeed"), 15, "wavespeed slots expired")


async def test_text_render_killed_mid_jobs_every_job_finishes_once(
    stack: ChaosStack, client: Bus, oracle: Oracle
) -> None:
    users = [await oracle.new_user() for _ in range(3)]
    picture = await client.put_image("text-kill.jpg", photo_jpeg((2400, 1800)), "image/jpeg")
    jobs = [await text_job(client, user.user_id, f"{n}", picture) for n in range(5) for user in users]
    for job in jobs:
        await client.start_job(job)

    async def some_rendered() -> bool:
        return await finished(client, jobs) >= 2

    await eventually(some_rendered, 30, "first pictures rendered")
    stack.kill("text-render")
    await asyncio.sleep(0.5)
    await stack.start_service("text-render")

    verdict = await oracle.verify([job.job_id for job in jobs], timeout=90)
    await verdict.assert_all_succeeded(client)
    assert await redeliveries(stack, "text-render") >= 1


async def test_billing_killed_while_settling_charges_each_job_once(
    stack: ChaosStack, client: Bus, oracle: Oracle
) -> None:
    async with stack.fal() as fal:
        await fal.set_latency(run_seconds=1.0)
    users = [await oracle.new_user() for _ in range(4)]
    jobs = [flux_job(user.user_id, f"billkill-{n}") for n in range(4) for user in users]
    for job in jobs:
        await client.start_job(job)

    async def settling() -> bool:
        return await finished(client, jobs) >= 2

    await eventually(settling, 30, "first jobs finished")
    stack.kill("billing")
    # While billing is down the rest of the jobs finish: their events wait on the stream.
    await asyncio.sleep(2.0)
    await stack.start_service("billing")

    verdict = await oracle.verify([job.job_id for job in jobs], timeout=60)
    await verdict.assert_all_succeeded(client)
    # The restarted billing settled what finished while it was down.
    assert await stack.metric("billing", "medialab_billing_charges_total") >= 1
