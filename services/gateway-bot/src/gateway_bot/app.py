"""The composition root: builds the bot, its storage, clients and consumers, and wires them together."""

from __future__ import annotations

import logging
from typing import cast

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import BotCommand
from medialab_contracts import subjects
from medialab_contracts.catalog import default_catalog
from medialab_runtime.decoding import PixelBudget
from medialab_runtime.media_store import MediaStore
from medialab_runtime.service import ServiceContext

from gateway_bot import texts
from gateway_bot.clients.billing import BillingClient
from gateway_bot.clients.jobs import JobsClient
from gateway_bot.clients.llm import LlmClient
from gateway_bot.delivery.consumer import DeliveryConsumer
from gateway_bot.delivery.progress import ProgressBoard
from gateway_bot.delivery.sender import ResultSender
from gateway_bot.flows.albums import AlbumCollector
from gateway_bot.flows.inputs import FlowInputs
from gateway_bot.flows.intake import ImageIntake
from gateway_bot.flows.launcher import JobLauncher
from gateway_bot.handlers import get_routers
from gateway_bot.middlewares.throttle import InboundThrottle, ThrottleMiddleware
from gateway_bot.middlewares.updates import UpdateGateMiddleware
from gateway_bot.middlewares.users import EnsureUserMiddleware
from gateway_bot.privacy import UserDataEraser
from gateway_bot.settings import GatewaySettings
from gateway_bot.storage.fsm import KvStorage
from gateway_bot.storage.quotas import UploadQuota
from gateway_bot.storage.records import (
    DeliveryMarks,
    LaunchClaims,
    OrderRecords,
    SeenUpdates,
    SentParts,
    StatusRecords,
    open_gateway_bucket,
)
from gateway_bot.storage.works import KeptWorks
from gateway_bot.telegram.limiter import Limits, Rate, TelegramLimiter
from gateway_bot.telegram.session import RateLimitMiddleware
from gateway_bot.transport import Transport

log = logging.getLogger(__name__)

SERVICE = "gateway-bot"
DIST = "medialab-gateway-bot"


class TokenRedactor(logging.Filter):
    """Belt and braces: no log line may carry the bot token, whatever library wrote it."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._token in message:
            record.msg = message.replace(self._token, "<token>")
            record.args = None
        return True


def build_limits(settings: GatewaySettings) -> Limits:
    return Limits(
        global_=Rate(settings.tg_global_per_s, settings.tg_global_burst),
        chat=Rate(settings.tg_chat_per_s, settings.tg_chat_burst),
        group=Rate(settings.tg_group_per_min / 60.0, settings.tg_group_burst),
    )


def build_bot(settings: GatewaySettings, limiter_middleware: RateLimitMiddleware | None = None) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    if limiter_middleware is not None:
        session.middleware(limiter_middleware)
    return Bot(
        token=settings.tg_bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


async def setup(ctx: ServiceContext) -> None:
    settings = cast(GatewaySettings, ctx.settings)
    token = settings.tg_bot_token.get_secret_value()
    for handler in logging.getLogger().handlers:
        handler.addFilter(TokenRedactor(token))

    catalog = default_catalog(settings.prices)
    gateway_kv = await open_gateway_bucket(ctx.js, float(settings.events_max_age_s))
    fsm_kv = await ctx.js.key_value(subjects.FSM_BUCKET)
    albums_kv = await ctx.js.key_value(subjects.ALBUMS_BUCKET)
    limits_kv = await ctx.js.key_value(subjects.TELEGRAM_LIMITS_BUCKET)
    media = await MediaStore.open(ctx.js, settings.media_max_object_bytes)
    uploads = await MediaStore.open(ctx.js, settings.media_max_object_bytes, subjects.UPLOADS_BUCKET)
    works_kv = await ctx.js.key_value(subjects.WORKS_BUCKET)
    kept = await MediaStore.open(ctx.js, settings.media_max_object_bytes, subjects.KEPT_BUCKET)
    works = KeptWorks(works_kv, kept, media, float(settings.works_ttl_s))

    bot_id = int(token.split(":", 1)[0])
    limiter = TelegramLimiter(limits_kv, bot_id, build_limits(settings))
    bot = build_bot(settings, RateLimitMiddleware(limiter, settings.tg_max_retries))
    ctx.on_shutdown(bot.session.close)

    billing = BillingClient(ctx.nc, settings.billing_timeout_s)
    llm = LlmClient(ctx.nc, settings.translate_timeout_s)
    jobs = JobsClient(ctx.js)
    progress = ProgressBoard(
        StatusRecords(gateway_kv), settings.progress_interval_s, settings.progress_interval_group_s
    )
    orders = OrderRecords(gateway_kv)
    launcher = JobLauncher(billing, llm, progress, media, uploads, orders)
    quota = UploadQuota(gateway_kv, settings.uploads_per_hour)

    dp = Dispatcher(
        storage=KvStorage(fsm_kv),
        settings=settings,
        catalog=catalog,
        admin_ids=settings.admin_ids,
        billing=billing,
        jobs=jobs,
        launcher=launcher,
        intake=ImageIntake(uploads, settings.image_limits, quota, PixelBudget(settings.max_image_pixels)),
        inputs=FlowInputs(gateway_kv, settings.inputs_wait_s),
        albums=AlbumCollector(albums_kv, settings.album_debounce_s),
        launch_claims=LaunchClaims(gateway_kv),
        orders=orders,
        progress=progress,
        works=works,
        eraser=UserDataEraser(billing, ctx.js, gateway_kv, fsm_kv, albums_kv, works_kv, bot_id),
    )
    dp.update.outer_middleware(UpdateGateMiddleware(SeenUpdates(gateway_kv, bot_id)))
    inbound = Rate(settings.inbound_per_s, settings.inbound_burst)
    dp.update.outer_middleware(ThrottleMiddleware(InboundThrottle(limits_kv, bot_id, inbound)))
    users = EnsureUserMiddleware(billing)
    dp.message.outer_middleware(users)
    dp.callback_query.outer_middleware(users)
    dp.include_routers(*get_routers())

    await bot.set_my_commands([BotCommand(command=name, description=text) for name, text in texts.COMMANDS])

    sender = ResultSender(
        media,
        progress,
        billing,
        SentParts(gateway_kv),
        orders,
        works,
        preview_min_bytes=settings.preview_min_bytes,
        preview_max_side=settings.preview_max_side,
        max_document_bytes=settings.max_document_bytes,
    )
    marks = DeliveryMarks(gateway_kv, stale_after_s=settings.delivery_ack_wait_s * 2)
    delivery = DeliveryConsumer(
        ctx.js, bot, sender, progress, marks, settings.delivery_concurrency, settings.delivery_ack_wait_s
    )
    ctx.spawn(delivery.run(), name="delivery")
    ctx.on_shutdown(lambda: delivery.stop(settings.shutdown_grace_s))

    transport = Transport(ctx, bot, dp, settings)
    await transport.start()
    ctx.on_shutdown(transport.stop)
    ctx.health.add_check("transport", lambda: transport.started)
