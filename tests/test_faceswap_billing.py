"""M6 through the real billing saga: a face swap is charged once; a failed one releases its reservation.

billing and wavespeed-runner run as processes configured by environment only; jobs are published the
way the gateway does (reserve first, then ``jobs.wavespeed.faceswap`` with ``Nats-Msg-Id = job_id``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from medialab_contracts import subjects
from medialab_contracts.billing import (
    BalanceRequest,
    BalanceView,
    EnsureUserRequest,
    OperationRequest,
    OperationStatus,
    OperationView,
    ReserveReply,
    ReserveRequest,
)
from medialab_contracts.events import FailureReason, JobFailed, JobSucceeded
from medialab_contracts.jobs import JobRequest
from medialab_runtime.rpc import call
from medialab_sandbox.wavespeed import TaskErrorCode
from medialab_testkit.faceswap import TARGET_SIZE, USER_ID, FaceSwapStack, faceswap_stack

WELCOME = 3000


@pytest.fixture
async def stack(nats_url: str, database_url: str, tmp_path: Path) -> AsyncIterator[FaceSwapStack]:
    async with faceswap_stack(nats_url, tmp_path) as stack:
        await asyncio.gather(
            stack.start("billing", DATABASE_URL=database_url),
            stack.start_runner(),
        )
        yield stack


async def balance(stack: FaceSwapStack) -> BalanceView:
    return await call(
        stack.nc, subjects.BILLING_BALANCE, BalanceRequest(user_id=USER_ID), BalanceView, timeout=10
    )


async def reserve(stack: FaceSwapStack, job: JobRequest) -> None:
    await call(stack.nc, subjects.BILLING_RESERVE, ReserveRequest.for_job(job), ReserveReply, timeout=10)


async def settled(stack: FaceSwapStack, job_id: str) -> OperationView:
    """The operation once the saga moved it out of PENDING."""
    async with asyncio.timeout(15):
        while True:
            view = await call(
                stack.nc,
                subjects.BILLING_OPERATION,
                OperationRequest(job_id=job_id, user_id=USER_ID),
                OperationView,
                timeout=10,
            )
            if view.status != OperationStatus.pending:
                return view
            await asyncio.sleep(0.05)


async def test_face_swap_is_charged_once_even_when_the_job_arrives_again(stack: FaceSwapStack) -> None:
    await call(
        stack.nc, subjects.BILLING_ENSURE_USER, EnsureUserRequest(user_id=USER_ID), BalanceView, timeout=10
    )
    job = await stack.job("ok")
    await reserve(stack, job)
    assert (await balance(stack)).reserved == job.price
    await stack.publish(job)
    result = await stack.wait_final(job.job_id)
    assert isinstance(result, JobSucceeded), result
    assert (result.outputs[0].width, result.outputs[0].height) == TARGET_SIZE
    assert (await settled(stack, job.job_id)).status == OperationStatus.charged

    # The same job again (a gateway retry past the dedup window): the runner answers from jobstate.
    await stack.publish(job, msg_id=f"{job.job_id}-again")
    await asyncio.sleep(1.0)
    assert len(stack.emu.records.submits) == 1
    assert await stack.stored_finals(job.job_id) == 1
    view = await balance(stack)
    assert (view.balance, view.reserved) == (WELCOME - job.price, 0)


async def test_no_face_fails_and_the_reservation_is_released(stack: FaceSwapStack) -> None:
    await call(
        stack.nc, subjects.BILLING_ENSURE_USER, EnsureUserRequest(user_id=USER_ID), BalanceView, timeout=10
    )
    stack.emu.faults.fail_tasks(TaskErrorCode.TASK_EXECUTION_FAILED)  # "no face detected in the image"
    job = await stack.job("noface")
    await reserve(stack, job)
    await stack.publish(job)
    result = await stack.wait_final(job.job_id)
    assert isinstance(result, JobFailed) and result.reason == FailureReason.no_face, result
    operation = await settled(stack, job.job_id)
    assert operation.status == OperationStatus.failed and operation.failure_reason == "no_face"
    view = await balance(stack)
    assert (view.balance, view.reserved) == (WELCOME, 0)
