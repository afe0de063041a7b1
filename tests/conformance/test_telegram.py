"""aiogram (the gateway's client) and the Telegram emulator against the Bot API snapshots."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiogram
import aiogram.methods
import httpx
import pytest
import pytest_asyncio
from aiogram.types import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    LabeledPrice,
)
from medialab_sandbox.snapshots import Snapshot, invalid_requests, of_provider, snapshot
from medialab_sandbox.telegram import EmulatorConfig, RateLimitConfig, TelegramEmulator
from medialab_testkit.bot_calls import BotCalls, bot_calls, module_bot_calls
from PIL import Image
from pydantic import TypeAdapter, ValidationError

METHODS = of_provider("telegram")
MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")
GATEWAY_SRC = Path(__file__).resolve().parents[2] / "services/gateway-bot/src"


def _aiogram(method: str) -> type[aiogram.methods.TelegramMethod[Any]]:
    cls: type[aiogram.methods.TelegramMethod[Any]] = getattr(aiogram.methods, method[0].upper() + method[1:])
    return cls


def _result_adapter(method: str) -> TypeAdapter[Any]:
    return TypeAdapter(_aiogram(method).__returning__)


@pytest.mark.parametrize("snap", METHODS, ids=lambda s: s.endpoint)
def test_aiogram_reads_the_snapshot_examples(snap: Snapshot) -> None:
    for answer in snap.examples.response:
        assert snap.response_errors(answer) == []
        _result_adapter(snap.endpoint).validate_python(answer["result"])


@pytest.mark.parametrize(
    "snap",
    [s for s in METHODS if isinstance(s.examples.response[0]["result"], dict | list)],
    ids=lambda s: s.endpoint,
)
def test_aiogram_refuses_results_the_snapshot_refuses(snap: Snapshot) -> None:
    result = snap.examples.response[0]["result"]
    schema = snap.response["properties"]["result"]
    # A list answer (sendMediaGroup) is broken in its first message; of a Message-or-true answer
    # (the edits), the Message.
    item, item_schema = (result[0], schema["items"]) if isinstance(result, list) else (result, schema)
    item_schema = next((s for s in item_schema.get("anyOf", []) if s.get("type") == "object"), item_schema)
    assert item_schema.get("required")
    for name in item_schema["required"]:
        broken_item = {k: v for k, v in item.items() if k != name}
        broken = [broken_item, *result[1:]] if isinstance(result, list) else broken_item
        assert snap.response_errors({"ok": True, "result": broken})
        with pytest.raises(ValidationError):
            _result_adapter(snap.endpoint).validate_python(broken)


BOT = aiogram.Bot("123456789:AAE-conformance-token")


def _sent(method: aiogram.methods.TelegramMethod[Any]) -> dict[str, Any]:
    """The parameters aiogram's session sends for ``method`` (its form fields, before each is
    JSON-serialized), as JSON values."""
    files: dict[str, Any] = {}
    fields = {
        name: BOT.session.prepare_value(value, bot=BOT, files=files, _dumps_json=False)
        for name, value in method.model_dump(warnings=False).items()
    }
    return json.loads(json.dumps({name: value for name, value in fields.items() if value}))


def test_aiogram_requests_of_the_gateway_match_the_snapshots(gateway_calls: BotCalls) -> None:
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="🎨", callback_data="create")]])
    sent = [
        aiogram.methods.SendMessage(chat_id=1001, text="Привет", parse_mode="HTML", reply_markup=markup),
        aiogram.methods.EditMessageText(chat_id=1001, message_id=5, text="Готово", reply_markup=markup),
        aiogram.methods.DeleteMessage(chat_id=1001, message_id=5),
        aiogram.methods.SendPhoto(chat_id=1001, photo="AgACAgIAAxkBAAIB", caption="Готово"),
        aiogram.methods.SendDocument(chat_id=1001, document="BQACAgIAAxkBAAIB", caption="Оригинал"),
        aiogram.methods.AnswerCallbackQuery(callback_query_id="42", text="Слишком часто", show_alert=True),
        aiogram.methods.SetMyCommands(commands=[BotCommand(command="start", description="Меню")]),
        aiogram.methods.GetUpdates(offset=3, timeout=10),
        aiogram.methods.SetWebhook(url="https://bot.example.com/hook", secret_token="abc_DEF-1"),
        aiogram.methods.DeleteWebhook(drop_pending_updates=False),
        aiogram.methods.GetFile(file_id="AgACAgIAAxkBAAIB"),
        aiogram.methods.GetMe(),
        aiogram.methods.SendInvoice(
            chat_id=1001,
            title="Пополнение баланса",
            description="100 ₽ на баланс",
            payload="3f2b8c1d9e0a4b5c6d7e8f9a0b1c2d3e",
            currency="XTR",
            prices=[LabeledPrice(label="Пополнение на 100 ₽", amount=67)],
        ),
        aiogram.methods.AnswerPreCheckoutQuery(pre_checkout_query_id="42", ok=True),
        aiogram.methods.RefundStarPayment(user_id=1001, telegram_payment_charge_id="stxAbC"),
        # The album as delivery/sender.py builds it (new files go as attach://<name> parts).
        aiogram.methods.SendMediaGroup(
            chat_id=1001,
            media=[
                InputMediaDocument(
                    media=f"attach://file{i}",
                    caption=f"Результат {i + 1} из 2",
                    disable_content_type_detection=True,
                )
                for i in range(2)
            ],
        ),
        aiogram.methods.EditMessageReplyMarkup(chat_id=1001, message_id=5, reply_markup=None),
        aiogram.methods.EditMessageReplyMarkup(chat_id=1001, message_id=5, reply_markup=markup),
    ]
    # Every method the gateway calls is checked here, and there is a snapshot of no other.
    assert {m.__api_method__ for m in sent} == set(gateway_calls.methods) == {s.endpoint for s in METHODS}
    for method in sent:
        assert snapshot(method.__api_method__).request_errors(_sent(method)) == [], method.__api_method__


# ----- which methods the gateway calls: read from its code ------------------------------------------


@pytest.fixture(scope="module")
def gateway_calls() -> BotCalls:
    return bot_calls(GATEWAY_SRC, GATEWAY_SRC / "gateway_bot")


def missing_snapshots(calls: BotCalls, snapshots: set[str]) -> list[str]:
    """Each Bot API method ``calls`` makes that has no snapshot among ``snapshots``, with its callers."""
    return [
        f"{method} (called at {', '.join(sorted(where))})"
        for method, where in sorted(calls.methods.items())
        if method not in snapshots
    ]


def test_every_bot_api_method_the_gateway_calls_has_a_snapshot(gateway_calls: BotCalls) -> None:
    # A call whose receiver the reader cannot type would be a method it cannot name: annotate it.
    assert gateway_calls.unresolved == []
    assert missing_snapshots(gateway_calls, {s.endpoint for s in METHODS}) == []
    # The reader follows aiogram's shortcuts and the dispatcher, not just bot.<method>(...) calls.
    assert {"answerCallbackQuery", "answerPreCheckoutQuery", "getUpdates", "getMe", "getFile"} <= set(
        gateway_calls.methods
    )


def test_a_gateway_method_without_a_snapshot_is_reported(gateway_calls: BotCalls) -> None:
    """The guard works: take away one snapshot the gateway needs and the same check names it."""
    known = {s.endpoint for s in METHODS} - {"sendMediaGroup"}
    assert missing_snapshots(gateway_calls, known) == [
        f"sendMediaGroup (called at {', '.join(sorted(gateway_calls.methods['sendMediaGroup']))})"
    ]
    assert any("delivery/sender.py" in where for where in gateway_calls.methods["sendMediaGroup"])


NEW_CALLS = """
from aiogram import Bot
from aiogram.methods import SendDice
from aiogram.types import CallbackQuery, Message


async def handler(message: Message, query: CallbackQuery, bot: Bot) -> None:
    await message.answer_sticker("CAACAgIAAxkBAAIB")
    await query.message.edit_caption(caption="x")
    await bot.send_video(message.chat.id, "BAACAgIAAxkBAAIB")
    await bot(SendDice(chat_id=message.chat.id))
    sent = await bot.send_message(message.chat.id, "x")
    await sent.pin()


async def later(messages: list) -> None:
    for each in messages:
        await each.delete()
"""


def test_calls_of_a_new_method_in_any_form_are_reported() -> None:
    calls = module_bot_calls(NEW_CALLS, vars(aiogram) | vars(aiogram.methods) | vars(aiogram.types))
    missing = missing_snapshots(calls, {s.endpoint for s in METHODS})
    assert [m.split(" ")[0] for m in missing] == [
        "editMessageCaption", "pinChatMessage", "sendDice", "sendSticker", "sendVideo",
    ]  # fmt: skip
    # Nothing says what ``each`` is: its delete() is reported, not guessed or dropped.
    assert calls.unresolved == ["<source>:18: each.delete"]


# ----- the emulator, over HTTP ---------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def tg() -> AsyncIterator[TelegramEmulator]:
    config = EmulatorConfig(rate_limits=RateLimitConfig(enabled=False))
    async with TelegramEmulator(config=config) as emulator:
        yield emulator


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def bot_api(tg: TelegramEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{tg.base_url}/bot{tg.token}/") as http:
        yield http


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def chat_id(tg: TelegramEmulator) -> AsyncIterator[int]:
    async with tg.user(user_id=4242) as user:
        await user.send_command("start")
        yield user.chat_id


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 160, 90)).save(out, "PNG")
    return out.getvalue()


def _album_upload(chat_id: int, count: int) -> dict[str, Any]:
    """A multipart album of ``count`` new documents, each an attach://<name> part."""
    media = [
        {"type": "document", "media": f"attach://file{i}", "caption": f"Результат {i + 1}",
         "disable_content_type_detection": True}
        for i in range(count)
    ]  # fmt: skip
    return {
        "data": {"chat_id": str(chat_id), "media": json.dumps(media)},
        "files": [(f"file{i}", (f"r{i}.png", _png(), "image/png")) for i in range(count)],
    }


async def _call(http: httpx.AsyncClient, method: str, **kwargs: Any) -> Any:
    answer = await http.post(method, **kwargs)
    snap = snapshot(method)
    if answer.json().get("ok"):
        assert answer.status_code == 200
        assert snap.response_errors(answer.json()) == [], method
        return answer.json()["result"]
    assert snap.error_errors(answer.json()) == [], method
    raise AssertionError(f"{method} refused: {answer.text}")


@MODULE_LOOP
async def test_emulator_answers_every_method_in_shape(bot_api: httpx.AsyncClient, chat_id: int) -> None:
    await _call(bot_api, "getMe", json={})
    await _call(bot_api, "setMyCommands", json=snapshot("setMyCommands").examples.request[0])
    message = await _call(
        bot_api, "sendMessage", json={"chat_id": chat_id, "text": "<b>Готово</b>", "parse_mode": "HTML"}
    )
    await _call(
        bot_api,
        "editMessageText",
        json={"chat_id": chat_id, "message_id": message["message_id"], "text": "Ещё"},
    )
    keyboard = {"inline_keyboard": [[{"text": "🎨", "callback_data": "create"}]]}
    edited = {"chat_id": chat_id, "message_id": message["message_id"]}
    with_keyboard = await _call(bot_api, "editMessageReplyMarkup", json={**edited, "reply_markup": keyboard})
    assert with_keyboard["reply_markup"] == keyboard
    without = await _call(bot_api, "editMessageReplyMarkup", json=edited)  # as the gateway removes one
    assert "reply_markup" not in without
    await _call(bot_api, "deleteMessage", json={"chat_id": chat_id, "message_id": message["message_id"]})
    photo = await _call(
        bot_api, "sendPhoto", data={"chat_id": str(chat_id)}, files={"photo": ("r.png", _png(), "image/png")}
    )
    await _call(
        bot_api,
        "sendDocument",
        data={"chat_id": str(chat_id)},
        files={"document": ("r.png", _png(), "image/png")},
    )
    # The album as delivery/sender.py sends it.
    album = await _call(bot_api, "sendMediaGroup", **_album_upload(chat_id, 2))
    assert len(album) == 2 and album[0]["media_group_id"] == album[1]["media_group_id"]
    file = await _call(bot_api, "getFile", json={"file_id": photo["photo"][-1]["file_id"]})
    assert file["file_path"]
    await _call(
        bot_api, "sendInvoice", json={**snapshot("sendInvoice").examples.request[0], "chat_id": chat_id}
    )
    await _call(bot_api, "deleteWebhook", json={"drop_pending_updates": False})
    await _call(bot_api, "getUpdates", json={"timeout": 0})  # fmt: skip


@MODULE_LOOP
async def test_emulator_takes_the_albums_the_snapshot_takes_and_refuses_the_rest(
    bot_api: httpx.AsyncClient, chat_id: int
) -> None:
    """Albums of the kinds the emulator models (documents, which the gateway sends, and photos).
    Telegram also takes audio, video and live-photo albums; the emulator refuses those, naming the
    type (see its README)."""
    snap = snapshot("sendMediaGroup")
    sent = await _call(bot_api, "sendMediaGroup", **_album_upload(chat_id, 2))
    doc = {"type": "document", "media": sent[0]["document"]["file_id"]}
    photo_message = await _call(
        bot_api, "sendPhoto", data={"chat_id": str(chat_id)}, files={"photo": ("p.png", _png(), "image/png")}
    )
    photo = {"type": "photo", "media": photo_message["photo"][-1]["file_id"]}
    accepted = {
        "two documents": [doc, doc],
        "ten documents": [doc] * 10,
        "two photos": [photo, {**photo, "has_spoiler": True}],
        "a caption of 1024": [{**doc, "caption": "я" * 1024, "parse_mode": "HTML"}, doc],
        "the album as a JSON string": json.dumps([doc, doc]),
    }
    refused = {
        "one document": [doc],
        "eleven documents": [doc] * 11,
        "a photo with a document": [photo, doc],
        "an item without media": [{"type": "document"}, doc],
        "an item without type": [{"media": doc["media"]}, doc],
        "a caption of 1025": [{**doc, "caption": "я" * 1025}, doc],
    }
    for label, media in accepted.items():
        body = {"chat_id": chat_id, "media": media}
        assert snap.request_errors(body) == [], label
        items = json.loads(media) if isinstance(media, str) else media
        assert len(await _call(bot_api, "sendMediaGroup", json=body)) == len(items), label
    for label, media in refused.items():
        body = {"chat_id": chat_id, "media": media}
        assert snap.request_errors(body), label
        answer = await bot_api.post("sendMediaGroup", json=body)
        assert answer.status_code == 400, label
        assert snap.error_errors(answer.json()) == [], label


@MODULE_LOOP
@pytest.mark.parametrize(
    "snap",
    [s for s in METHODS if s.request and invalid_requests(s, s.examples.request[0], missing_only=True)],
    ids=lambda s: s.endpoint,
)
async def test_emulator_refuses_what_the_snapshot_refuses(
    snap: Snapshot, bot_api: httpx.AsyncClient, chat_id: int
) -> None:
    example = dict(snap.examples.request[0])
    if "chat_id" in example:
        example["chat_id"] = chat_id
    for label, body in invalid_requests(snap, example, missing_only=True):
        answer = await bot_api.post(snap.endpoint, json=body)
        assert answer.status_code == 400, label
        assert snap.error_errors(answer.json()) == [], label
