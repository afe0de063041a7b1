"""A wavespeed-runner killed (SIGKILL) mid-poll: the job is redelivered, and the next runner polls the
same WaveSpeed task to the end: one upload per input, one submit, one final event."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from medialab_contracts.events import JobSucceeded
from medialab_sandbox.wavespeed import TaskStatus
from medialab_testkit.faceswap import TARGET_SIZE, faceswap_stack
from medialab_testkit.waiting import eventually

pytestmark = pytest.mark.chaos


async def test_a_runner_killed_mid_poll_resumes_the_same_task_elsewhere(
    nats_url: str, tmp_path: Path
) -> None:
    async with faceswap_stack(nats_url, tmp_path, processing_seconds=4.0) as stack:
        # A short ack wait: the killed runner's message comes back within seconds.
        doomed = await stack.start_runner(ACK_WAIT_S="2")
        job = await stack.job("kill")
        await stack.publish(job)
        await eventually(lambda: bool(stack.emu.records.polls), timeout=15)
        [submit] = stack.emu.records.submits
        assert submit.task_id is not None
        task = stack.emu.task(submit.task_id)
        assert task is not None and task.status == TaskStatus.PROCESSING
        polls_before = len(stack.emu.records.polls)
        doomed.kill()

        await stack.start_runner(ACK_WAIT_S="2")
        result = await stack.wait_final(job.job_id, timeout=30)
        assert isinstance(result, JobSucceeded), result
        assert (result.outputs[0].width, result.outputs[0].height) == TARGET_SIZE
        assert await stack.media.exists(result.outputs[0].object_name)

        records = stack.emu.records
        assert len(records.submits) == 1 and len(records.uploads) == 2
        assert len(records.polls) > polls_before
        assert {poll.task_id for poll in records.polls} == {submit.task_id}
        assert records.polls[-1].task_status == TaskStatus.COMPLETED
        await asyncio.sleep(0.5)
        assert await stack.stored_finals(job.job_id) == 1
        assert len(stack.events[job.job_id]) == 1
