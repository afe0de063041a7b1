"""cancel_and_wait ends tasks that drop a cancellation, the way asyncio.wait_for can on Python 3.11."""

from __future__ import annotations

import asyncio

from medialab_runtime.tasks import cancel_and_wait


async def test_a_task_that_drops_one_cancellation_is_cancelled_again_until_it_ends() -> None:
    dropped = 0

    async def stubborn() -> None:
        nonlocal dropped
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                dropped += 1
                if dropped == 3:
                    raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait([task]), timeout=5)
    assert task.cancelled() and dropped == 3


async def test_ended_and_failed_tasks_are_waited_for_without_raising() -> None:
    async def fail() -> None:
        raise RuntimeError("boom")

    failed = asyncio.create_task(fail())
    done = asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    await cancel_and_wait([failed, done])
    assert isinstance(failed.exception(), RuntimeError) and done.done()
