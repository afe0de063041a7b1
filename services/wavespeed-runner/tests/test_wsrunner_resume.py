"""A redelivered job carries on where the last delivery stopped: no second upload or submit."""

from __future__ import annotations

import time

import httpx
from medialab_contracts.events import JobSucceeded
from medialab_runtime.job_state import JobState
from medialab_sandbox.wavespeed import WaveSpeedEmulator
from medialab_testkit.wavespeed import KEY, Bus, RunnerFactory, make_job
from wavespeed_runner.api import WaveSpeedClient
from wavespeed_runner.jobs import arguments


async def test_a_remembered_task_is_polled_again_instead_of_submitting(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    face, target = await bus.face_and_target()
    job = make_job([face, target])
    emu.configure(processing_seconds=0.5)
    # What an earlier delivery left behind when it died right after submitting.
    client = WaveSpeedClient(httpx.AsyncClient(), KEY, api_base=emu.base_url)
    deadline = time.monotonic() + 10
    try:
        face_url = await client.upload(await bus.media.get(face.object_name), "image/png", "f.png", deadline)
        target_url = await client.upload(
            await bus.media.get(target.object_name), "image/png", "t.png", deadline
        )
        swap = arguments(face_url, target_url)
        task = await client.submit_once("wavespeed-ai/image-face-swap", swap, deadline)
    finally:
        await client.aclose()
    submitted_at = time.time()
    state = await JobState.open(bus.nc.jetstream())
    await state.update(
        job.job_id,
        wavespeed_inputs=[face_url, target_url],
        wavespeed_task_id=task.task_id,
        wavespeed_task_attempt=1,
        wavespeed_submitted_at=submitted_at,
    )
    await start_runner()
    result = await bus.run(job)
    assert isinstance(result, JobSucceeded), result
    assert len(emu.records.submits) == 1 and len(emu.records.uploads) == 2
    assert {p.task_id for p in emu.records.polls} == {task.task_id}
    assert result.provider_ms >= 400  # counted from the first delivery's submit

    # A job whose output is already stored is answered from it, without calling WaveSpeed.
    again = make_job([face, target])
    await state.update(again.job_id, output=result.outputs[0].model_dump(mode="json"), provider_ms=5)
    polls = len(emu.records.polls)
    replayed = await bus.run(again)
    assert isinstance(replayed, JobSucceeded) and replayed.outputs == result.outputs
    assert len(emu.records.submits) == 1 and len(emu.records.polls) == polls


async def test_a_task_wavespeed_forgot_is_submitted_again_with_the_remembered_inputs(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    face, target = await bus.face_and_target()
    job = make_job([face, target])
    client = WaveSpeedClient(httpx.AsyncClient(), KEY, api_base=emu.base_url)
    deadline = time.monotonic() + 10
    try:
        urls = [
            await client.upload(await bus.media.get(ref.object_name), "image/png", f"{i}.png", deadline)
            for i, ref in enumerate((face, target))
        ]
    finally:
        await client.aclose()
    state = await JobState.open(bus.nc.jetstream())
    await state.update(
        job.job_id,
        wavespeed_inputs=urls,
        wavespeed_task_id="0" * 32,
        wavespeed_task_attempt=1,
        wavespeed_submitted_at=time.time(),
    )
    await start_runner()
    result = await bus.run(job)
    assert isinstance(result, JobSucceeded), result
    [submit] = emu.records.submits
    assert submit.body == arguments(*urls) and len(emu.records.uploads) == 2
    assert emu.records.polls[0].task_id == "0" * 32 and emu.records.polls[0].status_code == 404
