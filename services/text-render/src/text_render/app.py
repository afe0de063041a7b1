"""Wiring: a durable pull consumer on ``jobs.text.>`` running ``TextJobHandler``, with the dead-letter
watcher every job consumer has (a picture that kills the process on every delivery is failed, and
so released, instead of waiting for billing's sweeper)."""

from medialab_contracts import subjects
from medialab_contracts.modes import Runner
from medialab_runtime.images import configure_pillow
from medialab_runtime.media_store import MediaStore
from medialab_runtime.runner import RunnerJobs
from medialab_runtime.service import ServiceContext

from text_render.jobs import TextJobHandler
from text_render.settings import TextRenderSettings

NAME = "text-render"
DIST = "medialab-text-render"


async def setup(ctx: ServiceContext[TextRenderSettings]) -> None:
    configure_pillow(ctx.settings.decode_pixel_limit)
    media = await MediaStore.open(ctx.js, ctx.settings.media_max_object_bytes)
    handler = TextJobHandler(ctx.nc, media, ctx.settings)
    jobs = await RunnerJobs.open(ctx, ctx.settings, Runner.text, subjects.TEXT_RENDER_CONSUMER, handler)
    await jobs.start()
