"""Wiring: a durable pull consumer on ``jobs.text.>`` running ``TextJobHandler``."""

from medialab_contracts import subjects
from medialab_contracts.modes import Runner
from medialab_runtime.events import EventPublisher
from medialab_runtime.job_state import JobState
from medialab_runtime.jobs import ConsumerSettings, JobConsumer
from medialab_runtime.media_store import MediaStore
from medialab_runtime.service import ServiceContext
from nats.aio.client import Client
from nats.js import JetStreamContext

from text_render.jobs import TextJobHandler
from text_render.settings import TextRenderSettings

SERVICE_NAME = "text-render"
DIST = "medialab-text-render"


async def build_consumer(nc: Client, js: JetStreamContext, settings: TextRenderSettings) -> JobConsumer:
    handler = TextJobHandler(nc, await MediaStore.open(js), settings)
    config = ConsumerSettings(
        durable=subjects.TEXT_RENDER_CONSUMER,
        filter_subject=subjects.runner_filter(Runner.text),
        ack_wait_s=settings.ack_wait_s,
        max_deliver=settings.max_deliver,
        concurrency=settings.consumer_concurrency,
    )
    return JobConsumer(
        js, SERVICE_NAME, config, handler, EventPublisher(js, SERVICE_NAME), await JobState.open(js)
    )


async def setup(ctx: ServiceContext) -> None:
    if not isinstance(ctx.settings, TextRenderSettings):
        raise TypeError("text-render needs TextRenderSettings")
    consumer = await build_consumer(ctx.nc, ctx.js, ctx.settings)
    ctx.spawn(consumer.run(), "jobs.text consumer")
    grace = ctx.settings.shutdown_grace_s

    async def stop() -> None:
        await consumer.stop(grace)

    ctx.on_shutdown(stop)
