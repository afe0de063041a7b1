"""fal-runner's composition root: the ``jobs.fal.>`` consumer and the ``fal.llm`` endpoint.

Both share one HTTP client and one slot pool, so LLM calls count against the same per-account limit
as image jobs, across every replica.
"""

from __future__ import annotations

import asyncio
import logging

from medialab_contracts import subjects
from medialab_contracts.llm import FalLlmRequest
from medialab_contracts.modes import Runner
from medialab_runtime.decoding import PixelBudget
from medialab_runtime.http_retry import RetryPolicy, provider_http_client
from medialab_runtime.images import configure_pillow
from medialab_runtime.media_store import MediaStore
from medialab_runtime.rpc import add_endpoint
from medialab_runtime.runner import RunnerJobs
from medialab_runtime.service import ServiceContext, package_version
from medialab_runtime.slots import SlotPool
from nats.micro import add_service

from fal_runner.execution import FalExecutor, PollPolicy
from fal_runner.fal_api import FalClient
from fal_runner.inputs import InputUploader
from fal_runner.jobs import FalJobHandler
from fal_runner.key_rotation import KeyRotation
from fal_runner.llm import FalLlm
from fal_runner.outputs import OutputStore
from fal_runner.settings import FalRunnerSettings

log = logging.getLogger(__name__)

NAME = "fal-runner"
DIST = "medialab-fal-runner"


def build_client(settings: FalRunnerSettings) -> FalClient:
    return FalClient(
        provider_http_client(settings.fal_http_timeout_s),
        queue_base=settings.fal_queue_base,
        rest_base=settings.fal_rest_base,
        retry=RetryPolicy(settings.fal_retry_base_s, settings.fal_retry_max_s, settings.fal_max_attempts),
        max_output_bytes=settings.fal_max_output_bytes,
        object_expiry_s=settings.fal_object_expiry_s,
        output_hosts=settings.output_hosts(),
    )


async def setup(ctx: ServiceContext[FalRunnerSettings]) -> None:
    settings = ctx.settings
    configure_pillow(settings.decode_pixel_limit)
    accounts = settings.provider_accounts()
    client = build_client(settings)
    ctx.on_shutdown(client.aclose)
    slots = await SlotPool.open(ctx.js, "fal", accounts, poll_s=settings.slot_poll_s)
    ctx.on_shutdown(slots.close)
    log.info(
        "fal accounts %s, slot lease %.0fs",
        [f"{a.name}@{a.limit} ({len(a.keys)} keys)" for a in accounts],
        slots.lease_s,
    )
    keys = KeyRotation(slots, settings.fal_key_cooldown_s)
    poll = PollPolicy(settings.fal_poll_min_s, settings.fal_poll_max_s, settings.fal_poll_ratio)
    executor = FalExecutor(client, slots, poll, keys)

    media = await MediaStore.open(ctx.js, settings.media_max_object_bytes)
    inputs = InputUploader(media, client, keys, settings.image_limits, PixelBudget(settings.max_image_pixels))
    handler = FalJobHandler(
        executor, inputs, OutputStore(media, client), cancel_running=settings.fal_cancel_running
    )
    jobs = await RunnerJobs.open(ctx, settings, Runner.fal, subjects.FAL_RUNNER_CONSUMER, handler)

    # Added between the two steps of ``jobs``, so a shutdown stops taking jobs (and lets those in
    # flight finish) before it closes the LLM endpoint.
    llm_calls: set[asyncio.Task[None]] = set()
    micro = await add_service(ctx.nc, name=NAME, version=package_version(DIST), queue_group=NAME)
    await add_endpoint(micro, NAME, subjects.FAL_LLM, FalLlmRequest, FalLlm(executor), in_flight=llm_calls)

    async def stop_llm() -> None:
        await micro.stop()
        if llm_calls:
            await asyncio.wait(set(llm_calls), timeout=settings.shutdown_grace_s)

    ctx.on_shutdown(stop_llm)

    await jobs.start()
