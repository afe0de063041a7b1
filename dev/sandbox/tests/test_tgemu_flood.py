"""Flood control, size limits and fault knobs of the Telegram emulator."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from medialab_sandbox.telegram import (
    EmulatorConfig,
    FileLimits,
    RateLimitConfig,
    TelegramEmulator,
    TelegramUserClient,
)

MB = 1024 * 1024
# Per-chat and global buckets wide open, so that only the scope under test can trip.
WIDE_OPEN = {
    "per_chat_per_second": 1000.0,
    "per_chat_burst": 1000,
    "global_per_second": 1000.0,
    "global_burst": 1000,
}


# One emulator and bot for the module; each test gets a fresh user and its own limits.
pytestmark = pytest.mark.asyncio(loop_scope="module")
_user_ids = itertools.count(5001)


@pytest.fixture(scope="module")
def tgemu_unstarted() -> TelegramEmulator:
    return TelegramEmulator()


@pytest_asyncio.fixture(loop_scope="module")
async def user(tgemu: TelegramEmulator) -> AsyncIterator[TelegramUserClient]:
    async with tgemu.user(user_id=next(_user_ids)) as client:
        await client.send_command("start")
        yield client
    state = tgemu.bot()
    state.rate_limiter.config = RateLimitConfig()
    state.rate_limit_hits.clear()
    state.faults.clear()


def limit(emulator: TelegramEmulator, **limits: Any) -> None:
    emulator.bot().rate_limiter.config = RateLimitConfig(**limits)


async def test_default_limits_allow_a_burst_of_three_per_chat(
    tgemu: TelegramEmulator, tgemu_bot: Bot, user: TelegramUserClient
) -> None:
    for n in range(3):
        await tgemu_bot.send_message(user.chat_id, f"burst {n}")
    assert tgemu.rate_limit_hits == []
    with pytest.raises(TelegramRetryAfter) as flood:
        await tgemu_bot.send_message(user.chat_id, "one too many")
    assert flood.value.retry_after == 1
    assert "Too Many Requests: retry after 1" in flood.value.message
    [hit] = tgemu.rate_limit_hits
    assert (hit.method, hit.chat_id, hit.scope, hit.retry_after) == (
        "sendMessage",
        user.chat_id,
        "chat",
        1,
    )
    assert [m.text for m in await user.bot_messages()] == ["burst 0", "burst 1", "burst 2"]


async def test_waiting_retry_after_lets_the_call_through(
    tgemu: TelegramEmulator, tgemu_bot: Bot, user: TelegramUserClient
) -> None:
    limit(tgemu, per_chat_per_second=2.0, per_chat_burst=1)
    await tgemu_bot.send_message(user.chat_id, "first")
    with pytest.raises(TelegramRetryAfter) as flood:
        await tgemu_bot.send_message(user.chat_id, "too soon")
    assert flood.value.retry_after == 1  # rounded up to whole seconds, like Telegram
    await asyncio.sleep(0.5)  # one token every 0.5 s at 2/s
    await tgemu_bot.send_message(user.chat_id, "after waiting")
    assert len(tgemu.rate_limit_hits) == 1


async def test_edits_and_deletes_count_but_reads_and_answers_do_not(
    tgemu: TelegramEmulator, tgemu_bot: Bot, user: TelegramUserClient
) -> None:
    limit(tgemu, per_chat_per_second=0.01, per_chat_burst=3)
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="ok", callback_data="ok")]])
    sent = await tgemu_bot.send_message(user.chat_id, "v1", reply_markup=markup)
    photo = await tgemu_bot.send_document(user.chat_id, BufferedInputFile(b"data", "a.txt"))
    for _ in range(5):
        await tgemu_bot.get_me()
        await tgemu_bot.get_updates()
        await tgemu_bot.send_chat_action(user.chat_id, "typing")
        assert photo.document is not None
        await tgemu_bot.get_file(photo.document.file_id)
        query_id = await user.press_button(sent.message_id, data="ok")
        await tgemu_bot.answer_callback_query(query_id)
    assert tgemu.rate_limit_hits == []
    await tgemu_bot.edit_message_text("v2", chat_id=user.chat_id, message_id=sent.message_id)
    with pytest.raises(TelegramRetryAfter):
        await tgemu_bot.delete_message(user.chat_id, sent.message_id)
    with pytest.raises(TelegramRetryAfter):
        await tgemu_bot.edit_message_text("v3", chat_id=user.chat_id, message_id=sent.message_id)
    assert [h.method for h in tgemu.rate_limit_hits] == ["deleteMessage", "editMessageText"]


async def test_group_chats_get_twenty_messages_a_minute(
    tgemu: TelegramEmulator, tgemu_bot: Bot, user: TelegramUserClient
) -> None:
    limit(tgemu, **WIDE_OPEN)
    group = await user.create_group("Тестовая группа")
    assert group < 0
    for n in range(20):
        await tgemu_bot.send_message(group, f"group {n}")
    await tgemu_bot.send_message(user.chat_id, "private chats are not affected")
    with pytest.raises(TelegramRetryAfter) as flood:
        await tgemu_bot.send_message(group, "the 21st")
    assert flood.value.retry_after == 3  # 60 s / 20 messages
    [hit] = tgemu.rate_limit_hits
    assert (hit.scope, hit.chat_id) == ("group", group)


async def test_the_bot_wide_limit_covers_all_chats(
    tgemu: TelegramEmulator, tgemu_bot: Bot, user: TelegramUserClient
) -> None:
    # Telegram's burst of 30, refilled slowly so that the test does not race the clock.
    limit(tgemu, **{**WIDE_OPEN, "global_per_second": 0.1, "global_burst": 30})
    group = await user.create_group("Ещё группа")
    for n in range(15):
        await tgemu_bot.send_message(user.chat_id, f"private {n}")
        await tgemu_bot.send_message(group, f"group {n}")
    with pytest.raises(TelegramRetryAfter):
        await tgemu_bot.send_message(user.chat_id, "the 31st this second")
    assert [h.scope for h in tgemu.rate_limit_hits] == ["global"]


async def test_injected_faults_and_latency(
    tgemu: TelegramEmulator, tgemu_bot: Bot, user: TelegramUserClient
) -> None:
    limit(tgemu, enabled=False)
    requests_before = len(tgemu.requests)
    tgemu.faults.inject("sendMessage", count=2, status=500)
    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Internal Server Error"):
            await tgemu_bot.send_message(user.chat_id, "lost")
    await tgemu_bot.send_message(user.chat_id, "third time lucky")

    tgemu.faults.inject("sendmessage", status=429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as flood:
        await tgemu_bot.send_message(user.chat_id, "injected flood")
    assert flood.value.retry_after == 7
    assert [(h.scope, h.retry_after) for h in tgemu.rate_limit_hits] == [("injected", 7)]

    tgemu.faults.inject("*", status=502)
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await tgemu_bot.get_me()
    tgemu.faults.inject("getMe", status=503, description="Service Unavailable: restart")
    with pytest.raises(TelegramServerError, match="restart"):
        await tgemu_bot.get_me()

    tgemu.faults.set_latency(0.3, method="getMe")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await tgemu_bot.get_me()
    assert loop.time() - started >= 0.3
    started = loop.time()
    await tgemu_bot.send_message(user.chat_id, "not delayed")
    assert loop.time() - started < 0.3
    assert [m.text for m in await user.bot_messages()] == ["third time lucky", "not delayed"]
    statuses = [(r.method, r.status_code) for r in tgemu.requests[requests_before:] if r.status_code != 200]
    assert statuses == [
        ("sendMessage", 500),
        ("sendMessage", 500),
        ("sendMessage", 429),
        ("getMe", 502),
        ("getMe", 503),
    ]


async def test_control_client_drives_the_same_knobs_over_http(
    tgemu: TelegramEmulator, tgemu_bot: Bot, user: TelegramUserClient
) -> None:
    async with tgemu.control() as control:
        await control.inject_fault("sendMessage", status=429, retry_after=2)
        with pytest.raises(TelegramRetryAfter):
            await tgemu_bot.send_message(user.chat_id, "x")
        assert [h.scope for h in await control.rate_limit_hits()] == ["injected"]
        await control.clear_rate_limit_hits()
        assert await control.rate_limit_hits() == []

        await control.set_rate_limits(RateLimitConfig(enabled=False))
        assert (await control.rate_limits()).enabled is False
        for n in range(10):
            await tgemu_bot.send_message(user.chat_id, f"unlimited {n}")
        assert await control.rate_limit_hits() == []

        await control.inject_fault("getMe", count=3, status=500)
        await control.clear_faults()
        await control.set_latency(0.2)
        started = asyncio.get_running_loop().time()
        assert (await tgemu_bot.get_me()).is_bot
        assert asyncio.get_running_loop().time() - started >= 0.2
        requests = await control.requests()
        assert requests[-1].method == "getMe" and requests[-1].status_code == 200


async def test_file_size_limits() -> None:
    files = FileLimits(max_document_upload=1000, max_download=500)
    config = EmulatorConfig(rate_limits=RateLimitConfig(enabled=False), files=files)
    async with TelegramEmulator(config=config) as emulator, emulator.user() as user:
        await user.send_command("start")
        session = AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))
        try:
            await check_file_size_limits(Bot(emulator.token, session=session), user)
        finally:
            await session.close()


async def check_file_size_limits(bot: Bot, user: TelegramUserClient) -> None:
    # The photo limit keeps Telegram's default of 10 MB.
    with pytest.raises(TelegramBadRequest, match="PHOTO_SAVE_FILE_INVALID"):
        await bot.send_photo(user.chat_id, BufferedInputFile(b"\0" * (10 * MB + 1), "big.jpg"))
    with pytest.raises(TelegramEntityTooLarge, match="Request Entity Too Large"):
        await bot.send_document(user.chat_id, BufferedInputFile(b"x" * 1001, "big.bin"))
    fits = await bot.send_document(user.chat_id, BufferedInputFile(b"x" * 1000, "fits.bin"))
    assert fits.document is not None
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(fits.document.file_id)

    small = await user.send_document(os.urandom(500), "small.bin")
    assert small.document is not None
    assert (await bot.get_file(small.document.file_id)).file_size == 500
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_document(user.chat_id, small.document.file_id, caption="я" * 1025)
