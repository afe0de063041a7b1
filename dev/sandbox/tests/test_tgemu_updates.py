"""Updates from the Telegram emulator: long polling, a real Dispatcher, webhook delivery."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramConflictError
from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from medialab_sandbox.telegram import (
    EmulatorConfig,
    RateLimitConfig,
    TelegramEmulator,
    WebhookConfig,
)
from medialab_testkit.waiting import eventually

WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="🎨 Создать", callback_data="create")]]
)


@pytest.fixture
async def emulator() -> AsyncIterator[TelegramEmulator]:
    config = EmulatorConfig(
        rate_limits=RateLimitConfig(enabled=False),
        webhook=WebhookConfig(retry_initial_delay=0.05, retry_max_delay=0.4),
    )
    async with TelegramEmulator(config=config) as emu:
        yield emu


@pytest.fixture
async def bot(emulator: TelegramEmulator) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))
    bot = Bot(emulator.token, session=session)
    yield bot
    await session.close()


async def test_long_poll_returns_as_soon_as_a_user_writes(bot: Bot, emulator: TelegramEmulator) -> None:
    async with emulator.user(user_id=1001, username="tester") as user:
        poll = asyncio.create_task(bot.get_updates(timeout=10))
        await asyncio.sleep(0.2)
        assert not poll.done()
        await user.send_command("start", "ref42")
        updates = await asyncio.wait_for(poll, 2)
    message = updates[0].message
    assert len(updates) == 1 and message is not None and message.from_user is not None
    assert message.text == "/start ref42"
    assert [(e.type, e.offset, e.length) for e in message.entities or []] == [("bot_command", 0, 6)]
    assert (message.chat.id, message.chat.type) == (1001, "private")
    assert (message.from_user.username, message.from_user.language_code) == ("tester", "ru")


async def test_offset_confirms_updates_and_limit_caps_the_batch(bot: Bot, emulator: TelegramEmulator) -> None:
    async with emulator.user() as user:
        for text in ("a", "b", "c"):
            await user.send_text(text)
        first = await bot.get_updates(limit=2)
        assert [u.message.text for u in first if u.message] == ["a", "b"]
        unconfirmed = await bot.get_updates()
        assert [u.message.text for u in unconfirmed if u.message] == ["a", "b", "c"]
        rest = await bot.get_updates(offset=first[-1].update_id + 1)
        assert [u.message.text for u in rest if u.message] == ["c"]
        assert await bot.get_updates(offset=rest[-1].update_id + 1) == []

        await user.send_text("d")
        await user.send_text("e")
        last = await bot.get_updates(offset=-1)
        assert [u.message.text for u in last if u.message] == ["e"]
        assert [u.update_id for u in await bot.get_updates()] == [last[0].update_id]
        assert last[0].update_id > rest[0].update_id > first[-1].update_id


async def test_allowed_updates_drops_other_kinds(bot: Bot, emulator: TelegramEmulator) -> None:
    await bot.get_updates(allowed_updates=["callback_query"])
    async with emulator.user() as user:
        await user.send_text("ignored by the filter")
        sent = await bot.send_message(user.chat_id, "Выберите", reply_markup=KEYBOARD)
        query_id = await user.press_button(sent.message_id, text="Создать")
        updates = await bot.get_updates()
        assert [u.event_type for u in updates] == ["callback_query"]
        query = updates[0].callback_query
        assert query is not None and query.id == query_id
        assert query.data == "create" and query.chat_instance
        assert query.from_user.id == user.user_id
        assert query.message is not None and query.message.message_id == sent.message_id

        await bot.get_updates(offset=updates[-1].update_id + 1, allowed_updates=[])
        await user.send_text("back to defaults")
        again = await bot.get_updates()
        assert [u.message.text for u in again if u.message] == ["back to defaults"]


async def test_a_newer_poll_terminates_the_waiting_one(emulator: TelegramEmulator) -> None:
    async with httpx.AsyncClient(base_url=f"{emulator.base_url}/bot{emulator.token}/") as http:
        older = asyncio.create_task(http.post("getUpdates", json={"timeout": 10}))
        await asyncio.sleep(0.2)
        newer = await http.post("getUpdates", json={"timeout": 0})
        terminated = await asyncio.wait_for(older, 2)
    assert newer.json() == {"ok": True, "result": []}
    assert terminated.status_code == 409
    assert terminated.json()["description"] == (
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
    )


async def test_dispatcher_handles_a_message_and_a_callback(bot: Bot, emulator: TelegramEmulator) -> None:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Выберите режим:", reply_markup=KEYBOARD)

    @router.callback_query(F.data == "create")
    async def create(query: CallbackQuery) -> None:
        await query.answer("Готово")
        assert isinstance(query.message, Message)
        await query.message.edit_text("Выбрано: Создать")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False)
    )
    try:
        async with emulator.user() as user:
            await user.send_command("start")
            menu = await user.wait_for_reply(lambda m: bool(m.inline_buttons))
            assert menu.text == "Выберите режим:"
            query_id = await user.press_button(menu.message_id, text="🎨 Создать")
            answer = await user.callback_answer(query_id)
            assert answer.answered and answer.text == "Готово" and not answer.show_alert
            edited = await user.wait_for_message(predicate=lambda m: m.text == "Выбрано: Создать")
            assert edited.message_id == menu.message_id and edited.reply_markup is None
    finally:
        await dispatcher.stop_polling()
        await polling


@dataclass
class Receiver:
    """A tiny webhook endpoint that answers with scripted statuses and records requests."""

    statuses: list[int] = field(default_factory=list)
    reply: dict[str, Any] | None = None
    requests: list[tuple[dict[str, str], dict[str, Any], float]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        loop = asyncio.get_running_loop()
        self.requests.append((dict(request.headers), await request.json(), loop.time()))
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200 and self.reply is not None:
            return web.json_response(self.reply)
        return web.Response(status=status)


async def serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/hook"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    runner, receiver.url = await serve(receiver.handle)
    yield receiver
    await runner.cleanup()


async def test_webhook_delivers_json_with_the_secret_header(
    bot: Bot, emulator: TelegramEmulator, receiver: Receiver
) -> None:
    async with httpx.AsyncClient(base_url=f"{emulator.base_url}/bot{emulator.token}/") as http:
        hook = {"url": receiver.url, "secret_token": "s3cr3t-Token_1"}
        first = await http.post("setWebhook", json=hook)
        second = await http.post("setWebhook", json=hook)
    assert first.json() == {"ok": True, "result": True, "description": "Webhook was set"}
    assert second.json()["description"] == "Webhook is already set"

    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count, info.max_connections) == (receiver.url, 0, 40)
    with pytest.raises(TelegramConflictError) as conflict:
        await bot.get_updates()
    assert conflict.value.message == WEBHOOK_CONFLICT

    async with emulator.user() as user:
        await user.send_text("через вебхук")
        await eventually(lambda: len(receiver.requests) == 1)
    headers, body, _ = receiver.requests[0]
    assert headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cr3t-Token_1"
    assert headers["Content-Type"] == "application/json"
    update = Update.model_validate(body)
    assert update.message is not None and update.message.text == "через вебхук"

    assert await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.get_updates() == []


async def test_webhook_retries_with_backoff_until_it_gets_a_2xx(
    bot: Bot, emulator: TelegramEmulator, receiver: Receiver
) -> None:
    receiver.statuses = [500, 502, 200]
    await bot.set_webhook(receiver.url)
    async with emulator.user() as user:
        await user.send_text("retry me")
        await eventually(lambda: len(receiver.requests) == 3)
    update_ids = {body["update_id"] for _, body, _ in receiver.requests}
    assert len(update_ids) == 1
    times = [at for _, _, at in receiver.requests]
    # Backoff doubles from retry_initial_delay (0.05 s): at least 0.05 s, then 0.1 s.
    assert times[1] - times[0] >= 0.05 and times[2] - times[1] >= 0.1
    assert "X-Telegram-Bot-Api-Secret-Token" not in receiver.requests[0][0]

    # The emulator records an attempt once its answer is read, a moment after the receiver saw it.
    attempts = emulator.bot().webhook_attempts
    await eventually(lambda: len(attempts) == 3)
    assert [(a.status_code, a.ok) for a in attempts] == [(500, False), (502, False), (200, True)]

    async def delivered() -> bool:
        return (await bot.get_webhook_info()).pending_update_count == 0

    await eventually(delivered, what="the update leaves the pending queue")
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 502 Bad Gateway"
    assert info.last_error_date is not None


async def test_undeliverable_updates_stay_pending(bot: Bot, emulator: TelegramEmulator) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    await bot.set_webhook(dead_url)
    async with emulator.user() as user:
        await user.send_text("nobody listens")
        await eventually(lambda: len(emulator.bot().webhook_attempts) >= 2)
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 1
    assert info.last_error_message == "Connection refused"

    await bot.delete_webhook()
    updates = await bot.get_updates()
    assert [u.message.text for u in updates if u.message] == ["nobody listens"]


async def test_aiogram_webhook_handler_and_a_method_in_the_response(
    bot: Bot, emulator: TelegramEmulator
) -> None:
    router = Router()

    @router.message()
    async def echo(message: Message) -> Any:
        return message.answer(f"echo: {message.text}")  # sent back in the webhook response

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    handler = SimpleRequestHandler(dispatcher, bot, secret_token="right-secret", handle_in_background=False)
    runner, url = await serve(handler.handle)
    try:
        await bot.set_webhook(url, secret_token="wrong-secret")
        async with emulator.user() as user:
            await user.send_text("привет")
            await eventually(lambda: len(emulator.bot().webhook_attempts) >= 1)
            refused = emulator.bot().webhook_attempts[0]
            assert (refused.status_code, refused.error) == (
                401,
                "Wrong response from the webhook: 401 Unauthorized",
            )
            await bot.set_webhook(url, secret_token="right-secret")
            reply = await user.wait_for_reply(timeout=5)
            assert reply.text == "echo: привет"
    finally:
        await bot.delete_webhook()
        await runner.cleanup()
