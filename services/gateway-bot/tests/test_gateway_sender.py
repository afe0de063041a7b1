"""The last word on a job, as the result sender says it: which failure text and buttons a job gets,
and that an undelivered result of which a document is out already is not refunded.

Real NATS KV for the order and part records; the Telegram side is a session that records what the
bot asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardMarkup
from gateway_bot import texts
from gateway_bot.app import Buckets
from gateway_bot.callbacks import RetouchKind
from gateway_bot.clients.billing import BillingClient
from gateway_bot.delivery.fitting import Undeliverable
from gateway_bot.delivery.progress import ProgressBoard
from gateway_bot.delivery.sender import SENT, ResultSender
from gateway_bot.flows.launcher import Order
from gateway_bot.handlers.retouch import FIXED_PROMPTS, MODEL_KEYS
from gateway_bot.settings import GatewaySettings
from gateway_bot.storage.records import OrderRecords, SentParts, StatusRecords
from gateway_bot.storage.works import KeptWorks
from medialab_contracts import subjects
from medialab_contracts.catalog import default_catalog
from medialab_contracts.errors import ServiceUnavailable
from medialab_contracts.events import FailureReason, JobFailed, JobSucceeded, MediaOutput
from medialab_contracts.ids import new_job_id
from medialab_contracts.media import MediaRef
from medialab_contracts.modes import Mode
from medialab_runtime.media_store import MediaStore
from medialab_runtime.provisioning import ensure_layout
from medialab_testkit.telegram import RecordingSession
from nats.aio.client import Client

CHAT_ID = 4242
CATALOG = default_catalog()
PHOTO = MediaRef(object_name="inputs/flow/photo", content_type="image/jpeg", size_bytes=10)
REFUSED_IMAGE = "фильтр безопасности модели отклонил изображение — попробуйте другое фото"
REFUSED_PROMPT = "переформулируйте промпт"


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    await ensure_layout(client.jetstream())
    yield client
    await client.close()


@pytest.fixture
async def records(nc: Client) -> tuple[OrderRecords, SentParts, ResultSender]:
    js = nc.jetstream()
    settings = GatewaySettings(_env_file=None, tg_bot_token="1:TEST")
    buckets = await Buckets.open(js, settings)
    media = await MediaStore.open(js)
    kept = await MediaStore.open(js, bucket=subjects.KEPT_BUCKET)
    orders, parts = OrderRecords(buckets.gateway), SentParts(buckets.gateway)
    sender = ResultSender(
        media,
        ProgressBoard(StatusRecords(buckets.gateway), 2.0, 6.0),
        # No billing answers here: a refund asked for would fail the test.
        BillingClient(nc, 0.5),
        parts,
        orders,
        KeptWorks(buckets.works, kept, media, float(settings.works_ttl_s)),
        preview_min_bytes=settings.preview_min_bytes,
        preview_max_side=settings.preview_max_side,
        max_document_bytes=settings.max_document_bytes,
    )
    return orders, parts, sender


@pytest.fixture
def telegram() -> RecordingSession:
    return RecordingSession()


@pytest.fixture
def bot(telegram: RecordingSession) -> Bot:
    return Bot("123:ABC", session=telegram)


def _order(mode: Mode, model_key: str, prompt: str = "", fixed_prompt: str = "") -> dict[str, object]:
    order = Order(
        mode=mode,
        model=CATALOG.by_key(model_key),
        user_id=CHAT_ID,
        chat_id=CHAT_ID,
        prompt=prompt,
        fixed_prompt=fixed_prompt,
        inputs=(PHOTO,),
    )
    return order.model_dump(mode="json")


async def _refusal(
    records: tuple[OrderRecords, SentParts, ResultSender],
    telegram: RecordingSession,
    bot: Bot,
    mode: Mode,
    order: dict[str, object] | None,
) -> SendMessage:
    """The message a safety refusal of a ``mode`` job with ``order`` stored (or none) ends in."""
    orders, _, sender = records
    job = new_job_id()
    if order is not None:
        await orders.save(job, order)
    await sender.failed(
        bot,
        JobFailed(job_id=job, user_id=CHAT_ID, chat_id=CHAT_ID, mode=mode, reason=FailureReason.moderation),
    )
    (message,) = [m for m in telegram.requests if isinstance(m, SendMessage)]
    assert job in message.text and "Средства не списаны" in message.text
    return message


@pytest.mark.parametrize(
    ("mode", "order"),
    [
        (Mode.faceswap, _order(Mode.faceswap, "fs")),
        (Mode.upscale, _order(Mode.upscale, "ups")),
        (
            Mode.retouch,
            _order(Mode.retouch, MODEL_KEYS[RetouchKind.soft], fixed_prompt=FIXED_PROMPTS[RetouchKind.soft]),
        ),
        (Mode.faceswap, None),  # its order expired: face swap never takes a prompt
    ],
    ids=["faceswap", "upscale", "soft-retouch", "faceswap-without-order"],
)
async def test_a_safety_refusal_of_a_job_without_a_prompt_offers_another_photo_and_no_rephrase(
    records: tuple[OrderRecords, SentParts, ResultSender],
    telegram: RecordingSession,
    bot: Bot,
    mode: Mode,
    order: dict[str, object] | None,
) -> None:
    message = await _refusal(records, telegram, bot, mode, order)
    assert REFUSED_IMAGE in message.text and REFUSED_PROMPT not in message.text
    assert message.reply_markup is None


async def test_a_safety_refusal_of_a_prompt_offers_to_rephrase_it(
    records: tuple[OrderRecords, SentParts, ResultSender], telegram: RecordingSession, bot: Bot
) -> None:
    order = _order(Mode.create, "flux", prompt="пляж на закате")
    message = await _refusal(records, telegram, bot, Mode.create, order)
    assert REFUSED_PROMPT in message.text and REFUSED_IMAGE not in message.text
    assert isinstance(message.reply_markup, InlineKeyboardMarkup)
    assert [b.text for row in message.reply_markup.inline_keyboard for b in row] == [texts.BTN_REPHRASE]


async def test_a_result_partly_out_when_the_chat_refuses_is_not_refunded_and_nothing_is_sent(
    records: tuple[OrderRecords, SentParts, ResultSender], telegram: RecordingSession, bot: Bot
) -> None:
    """Two variants went out as an album, then the chat blocked the bot before their buttons: the
    user has what they paid for (billing is not asked: no billing answers here)."""
    _, parts, sender = records
    job = new_job_id()
    outputs = [
        MediaOutput(object_name=f"results/{job}/{n}.png", content_type="image/png", width=8, height=8)
        for n in range(2)
    ]
    for n in range(2):
        await parts.record(job, f"{n}.document", SENT)
    event = JobSucceeded(job_id=job, user_id=CHAT_ID, chat_id=CHAT_ID, mode=Mode.create, outputs=outputs)
    for cause in (Undeliverable.chat_refused, Undeliverable.attempts_exhausted):
        await sender.undelivered(bot, event, cause)
    assert telegram.requests == []


async def test_a_result_nothing_of_which_is_out_is_refunded(
    records: tuple[OrderRecords, SentParts, ResultSender], nc: Client, telegram: RecordingSession, bot: Bot
) -> None:
    """The counterpart: billing is asked (here nobody answers, so the refund's failure comes up to the
    consumer, which tries again) and nothing is said before the money is back."""
    _, _, sender = records
    job = new_job_id()
    output = MediaOutput(object_name=f"results/{job}/0.png", content_type="image/png", width=8, height=8)
    event = JobSucceeded(job_id=job, user_id=CHAT_ID, chat_id=CHAT_ID, mode=Mode.upscale, outputs=[output])
    asked = await nc.subscribe(subjects.BILLING_REFUND)
    with pytest.raises(ServiceUnavailable):
        await sender.undelivered(bot, event, Undeliverable.attempts_exhausted)
    request = await asked.next_msg(timeout=1)
    assert job.encode() in request.data and b"undeliverable_attempts_exhausted" in request.data
    assert telegram.requests == []
