"""aiogram (the gateway's client) and the Telegram emulator against the Bot API snapshots."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiogram.methods
import httpx
import pytest
import pytest_asyncio
from aiogram.types import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice
from medialab_sandbox.snapshots import Snapshot, invalid_requests, of_provider, snapshot
from medialab_sandbox.telegram import EmulatorConfig, RateLimitConfig, TelegramEmulator
from PIL import Image
from pydantic import TypeAdapter, ValidationError

METHODS = of_provider("telegram")
MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")


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
    [s for s in METHODS if isinstance(s.examples.response[0]["result"], dict)],
    ids=lambda s: s.endpoint,
)
def test_aiogram_refuses_results_the_snapshot_refuses(snap: Snapshot) -> None:
    result = snap.examples.response[0]["result"]
    schema = snap.response["properties"]["result"]
    for name in schema.get("required", []):
        broken = {k: v for k, v in result.items() if k != name}
        assert snap.response_errors({"ok": True, "result": broken})
        with pytest.raises(ValidationError):
            _result_adapter(snap.endpoint).validate_python(broken)


def _sent(method: aiogram.methods.TelegramMethod[Any]) -> dict[str, Any]:
    """The parameters aiogram sends for ``method``, as JSON values."""
    return json.loads(method.model_dump_json(exclude_none=True, exclude_defaults=True))


def test_aiogram_requests_of_the_gateway_match_the_snapshots() -> None:
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
    ]
    assert {m.__api_method__ for m in sent} == {s.endpoint for s in METHODS}
    for method in sent:
        assert snapshot(method.__api_method__).request_errors(_sent(method)) == [], method.__api_method__


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
    file = await _call(bot_api, "getFile", json={"file_id": photo["photo"][-1]["file_id"]})
    assert file["file_path"]
    await _call(
        bot_api, "sendInvoice", json={**snapshot("sendInvoice").examples.request[0], "chat_id": chat_id}
    )
    await _call(bot_api, "deleteWebhook", json={"drop_pending_updates": False})
    await _call(bot_api, "getUpdates", json={"timeout": 0})  # fmt: skip


@MODULE_LOOP
@pytest.mark.parametrize(
    "snap", [s for s in METHODS if s.request and s.request.get("required")], ids=lambda s: s.endpoint
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
