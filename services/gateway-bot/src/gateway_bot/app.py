"""The composition root: builds the bot, its storage, clients and consumers, and wires them together."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import BotCommand, Update
from medialab_contracts import subjects
from medialab_contracts.catalog import default_catalog
from medialab_runtime.decoding import PixelBudget
from medialab_runtime.images import configure_pillow
from medialab_runtime.media_store import MediaStore
from medialab_runtime.service import ServiceContext
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from gateway_bot import texts
from gateway_bot.clients.billing import BillingClient
from gateway_bot.clients.jobs import JobsClient
from gateway_bot.clients.llm import LlmClient
from gateway_bot.clients.payments import PaymentsClient
from gateway_bot.delivery.consumer import DeliveryConsumer
from gateway_bot.delivery.payments import PaymentNotices
from gateway_bot.delivery.progress import ProgressBoard
from gateway_bot.delivery.sender import ResultSender
from gateway_bot.flows.albums import AlbumCollector
from gateway_bot.flows.inputs import FlowInputs
from gateway_bot.flows.intake import ImageIntake, Intake
from gateway_bot.flows.launcher import JobLauncher, Launcher
from gateway_bot.handlers import get_routers
from gateway_bot.i18n import DEFAULT_LOCALE, LOCALES
from gateway_bot.middlewares.locale import LocaleMiddleware
from gateway_bot.middlewares.throttle import InboundThrottle, ThrottleMiddleware
from gateway_bot.middlewares.updates import UpdateGateMiddleware
from gateway_bot.middlewares.users import EnsureUserMiddleware
from gateway_bot.privacy import UserDataEraser
from gateway_bot.settings import GatewaySettings
from gateway_bot.storage.fsm import KvStorage
from gateway_bot.storage.locales import UserLocales
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
from gateway_bot.telegram.models import warm_up
from gateway_bot.telegram.session import RateLimitMiddleware, TelegramSession
from gateway_bot.transport import Transport

log = logging.getLogger(__name__)

NAME = "gateway-bot"
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
    session = TelegramSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    if limiter_middleware is not None:
        session.middleware(limiter_middleware)
    return Bot(
        token=settings.tg_bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


@dataclass(frozen=True)
class Buckets:
    """The KV buckets the conversation's shared state lives in (every replica sees the same)."""

    gateway: KeyValue
    fsm: KeyValue
    albums: KeyValue
    limits: KeyValue
    works: KeyValue
    locales: KeyValue

    @classmethod
    async def open(cls, js: JetStreamContext, settings: GatewaySettings) -> Buckets:
        return cls(
            gateway=await open_gateway_bucket(js, float(settings.events_max_age_s)),
            fsm=await js.key_value(subjects.FSM_BUCKET),
            albums=await js.key_value(subjects.ALBUMS_BUCKET),
            limits=await js.key_value(subjects.TELEGRAM_LIMITS_BUCKET),
            works=await js.key_value(subjects.WORKS_BUCKET),
            locales=await js.key_value(subjects.LOCALES_BUCKET),
        )


def build_dispatcher(
    settings: GatewaySettings,
    js: JetStreamContext,
    buckets: Buckets,
    bot_id: int,
    billing: BillingClient,
    payments: PaymentsClient,
    launcher: Launcher,
    intake: Intake,
    *,
    progress: ProgressBoard,
    works: KeptWorks,
) -> Dispatcher:
    """The conversation: the routers, the middlewares before them and what their handlers are given.

    The launcher (money and jobs) and the image intake (Telegram downloads, the upload store) come from
    the caller: the flow tests pass recording ones and keep everything else as production has it.
    """
    locales = UserLocales(buckets.locales)
    dp = Dispatcher(
        storage=KvStorage(buckets.fsm),
        settings=settings,
        catalog=default_catalog(settings.prices),
        admin_ids=settings.admin_ids,
        billing=billing,
        payments_client=payments,
        jobs=JobsClient(js),
        launcher=launcher,
        intake=intake,
        inputs=FlowInputs(buckets.gateway, settings.inputs_wait_s),
        albums=AlbumCollector(buckets.albums, settings.album_debounce_s),
        launch_claims=LaunchClaims(buckets.gateway),
        orders=OrderRecords(buckets.gateway),
        progress=progress,
        works=works,
        locales=locales,
        eraser=UserDataEraser(
            billing, js, buckets.gateway, buckets.fsm, buckets.albums, buckets.works, bot_id
        ),
    )
    dp.update.outer_middleware(UpdateGateMiddleware(SeenUpdates(buckets.gateway, bot_id)))
    dp.update.outer_middleware(LocaleMiddleware(locales))
    inbound = Rate(settings.inbound_per_s, settings.inbound_burst)
    dp.update.outer_middleware(ThrottleMiddleware(InboundThrottle(buckets.limits, bot_id, inbound)))
    users = EnsureUserMiddleware(billing)
    dp.message.outer_middleware(users)
    dp.callback_query.outer_middleware(users)
    dp.include_routers(*get_routers())
    return dp


async def set_commands(bot: Bot, referrals_on: bool) -> None:
    """The command menu in each language: Russian for every user without a list of their own."""
    for locale in LOCALES:
        with texts.use_locale(locale):
            commands = [
                BotCommand(command=name, description=text) for name, text in texts.commands(referrals_on)
            ]
        await bot.set_my_commands(commands, language_code=None if locale == DEFAULT_LOCALE else locale)


async def setup(ctx: ServiceContext[GatewaySettings]) -> None:
    settings = ctx.settings
    configure_pillow(settings.decode_pixel_limit)
    warm_up(Update)
    token = settings.tg_bot_token.get_secret_value()
    for handler in logging.getLogger().handlers:
        handler.addFilter(TokenRedactor(token))

    buckets = await Buckets.open(ctx.js, settings)
    media = await MediaStore.open(ctx.js, settings.media_max_object_bytes)
    uploads = await MediaStore.open(ctx.js, settings.media_max_object_bytes, subjects.UPLOADS_BUCKET)
    kept = await MediaStore.open(ctx.js, settings.media_max_object_bytes, subjects.KEPT_BUCKET)
    works = KeptWorks(buckets.works, kept, media, float(settings.works_ttl_s))

    bot_id = int(token.split(":", 1)[0])
    limiter = TelegramLimiter(buckets.limits, bot_id, build_limits(settings))
    bot = build_bot(settings, RateLimitMiddleware(limiter, settings.tg_max_retries))
    ctx.on_shutdown(bot.session.close)

    billing = BillingClient(ctx.nc, settings.billing_timeout_s)
    payments_client = PaymentsClient(ctx.nc, settings.payments_timeout_s)
    llm = LlmClient(ctx.nc, settings.translate_timeout_s)
    progress = ProgressBoard(
        StatusRecords(buckets.gateway), settings.progress_interval_s, settings.progress_interval_group_s
    )
    orders = OrderRecords(buckets.gateway)
    # One bound on the pixels the process decodes at once, whether taking an image in or fitting it.
    decoding = PixelBudget(settings.max_image_pixels)
    launcher = JobLauncher(billing, llm, progress, media, uploads, orders, decoding)
    quota = UploadQuota(buckets.gateway, settings.uploads_per_hour, settings.upload_bytes_per_hour)
    intake = ImageIntake(uploads, settings.image_limits, quota, decoding)
    dp = build_dispatcher(
        settings,
        ctx.js,
        buckets,
        bot_id,
        billing,
        payments_client,
        launcher,
        intake,
        progress=progress,
        works=works,
    )

    await set_commands(bot, settings.referral_bonus_rub > 0)

    sender = ResultSender(
        media,
        progress,
        billing,
        SentParts(buckets.gateway),
        orders,
        works,
        preview_min_bytes=settings.preview_min_bytes,
        preview_max_side=settings.preview_max_side,
        max_document_bytes=settings.max_document_bytes,
    )
    marks = DeliveryMarks(buckets.gateway, stale_after_s=settings.delivery_ack_wait_s * 2)
    locales = UserLocales(buckets.locales)
    delivery = DeliveryConsumer(
        ctx.js,
        bot,
        sender,
        progress,
        marks,
        locales,
        settings.delivery_concurrency,
        settings.delivery_ack_wait_s,
        settings.delivery_max_deliver,
    )
    ctx.spawn(delivery.run(), name="delivery")
    ctx.on_shutdown(lambda: delivery.stop(settings.shutdown_grace_s))
    if settings.yookassa_enabled:
        notices = PaymentNotices(ctx.js, bot, locales, settings.delivery_ack_wait_s)
        ctx.spawn(notices.run(), name="payment-notices")
        ctx.on_shutdown(lambda: notices.stop(settings.shutdown_grace_s))

    transport = Transport(ctx, bot, dp, settings)
    await transport.start()
    ctx.on_shutdown(transport.stop)
    ctx.health.add_check("transport", lambda: transport.started)
