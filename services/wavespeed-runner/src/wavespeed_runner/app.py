"""wavespeed-runner's composition root: the ``jobs.wavespeed.>`` consumer under provider slots and
the account's start rate."""

from __future__ import annotations

import logging

from medialab_contracts import subjects
from medialab_contracts.modes import Runner
from medialab_runtime.decoding import PixelBudget
from medialab_runtime.http_retry import RetryPolicy, provider_http_client
from medialab_runtime.images import configure_pillow
from medialab_runtime.media_store import MediaStore
from medialab_runtime.runner import RunnerJobs
from medialab_runtime.service import ServiceContext
from medialab_runtime.slots import SlotPool
from medialab_runtime.start_rate import StartLimiter

from wavespeed_runner.api import WaveSpeedClient
from wavespeed_runner.execution import PollPolicy, TaskPolicy, WaveSpeedExecutor
from wavespeed_runner.inputs import InputUploader
from wavespeed_runner.jobs import FaceSwapHandler
from wavespeed_runner.outputs import OutputStore
from wavespeed_runner.settings import WaveSpeedRunnerSettings
from wavespeed_runner.submission import LookupPolicy, Submitter

log = logging.getLogger(__name__)

NAME = "wavespeed-runner"
DIST = "medialab-wavespeed-runner"
PROVIDER = "wavespeed"


def build_client(settings: WaveSpeedRunnerSettings) -> WaveSpeedClient:
    # Output URLs may redirect to a CDN; httpx drops Authorization on a cross-origin redirect.
    http = provider_http_client(settings.wavespeed_http_timeout_s, follow_redirects=True)
    return WaveSpeedClient(
        http,
        settings.account().keys[0].secret.get_secret_value(),
        api_base=settings.wavespeed_api_base,
        retry=retry_policy(settings),
        max_output_bytes=settings.wavespeed_max_output_bytes,
        output_hosts=settings.output_hosts(),
    )


def retry_policy(settings: WaveSpeedRunnerSettings) -> RetryPolicy:
    return RetryPolicy(
        settings.wavespeed_retry_base_s, settings.wavespeed_retry_max_s, settings.wavespeed_max_attempts
    )


def build_executor(
    settings: WaveSpeedRunnerSettings, client: WaveSpeedClient, slots: SlotPool, starts: StartLimiter
) -> WaveSpeedExecutor:
    poll = PollPolicy(
        settings.wavespeed_poll_interval_s, settings.wavespeed_poll_max_s, settings.wavespeed_poll_ratio
    )
    tasks = TaskPolicy(
        settings.wavespeed_task_attempts, settings.wavespeed_retry_base_s, settings.wavespeed_retry_max_s
    )
    lookup = LookupPolicy(settings.wavespeed_lookup_attempts, settings.wavespeed_lookup_grace_s)
    submitter = Submitter(client, starts, retry_policy(settings), lookup)
    return WaveSpeedExecutor(client, slots, submitter, poll, tasks)


async def setup(ctx: ServiceContext[WaveSpeedRunnerSettings]) -> None:
    settings = ctx.settings
    configure_pillow(settings.decode_pixel_limit)
    account = settings.account()
    client = build_client(settings)
    ctx.on_shutdown(client.aclose)
    slots = await SlotPool.open(ctx.js, PROVIDER, [account], poll_s=settings.slot_poll_s)
    ctx.on_shutdown(slots.close)
    starts = await StartLimiter.open(ctx.js, PROVIDER, account.name, settings.start_rate())
    ctx.on_shutdown(starts.close)
    log.info(
        "wavespeed account %s: %d in progress, %d starts per %gs; model %s, slot lease %.0fs",
        account.name,
        account.limit,
        starts.rate.limit,
        starts.rate.window_s,
        settings.wavespeed_model,
        slots.lease_s,
    )

    media = await MediaStore.open(ctx.js, settings.media_max_object_bytes)
    handler = FaceSwapHandler(
        build_executor(settings, client, slots, starts),
        InputUploader(media, client, settings.image_limits, PixelBudget(settings.max_image_pixels)),
        OutputStore(media, client),
        settings.wavespeed_model,
    )
    jobs = await RunnerJobs.open(ctx, settings, Runner.wavespeed, subjects.WAVESPEED_RUNNER_CONSUMER, handler)
    await jobs.start()
