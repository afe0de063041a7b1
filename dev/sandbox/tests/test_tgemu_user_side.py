"""User side of the Telegram emulator: what users send arrives as real aiogram updates."""

from __future__ import annotations

import asyncio
import io
import itertools
import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Update
from medialab_sandbox.telegram import (
    AlbumItem,
    EmulatorError,
    TelegramEmulator,
    TelegramUserClient,
    shared_http,
)
from PIL import Image

pytestmark = pytest.mark.asyncio(loop_scope="module")
_user_ids = itertools.count(3001)


def image(width: int, height: int, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (250, 200, 0)).save(buffer, fmt)
    return buffer.getvalue()


async def drain(bot: Bot) -> list[Update]:
    """Fetch and confirm every pending update."""
    updates = await bot.get_updates()
    if updates:
        await bot.get_updates(offset=updates[-1].update_id + 1)
    return updates


@pytest_asyncio.fixture(loop_scope="module")
async def user(tgemu: TelegramEmulator, tgemu_bot: Bot) -> AsyncIterator[TelegramUserClient]:
    async with tgemu.user(user_id=next(_user_ids), first_name="Аня") as client:
        await client.send_command("start")
        await drain(tgemu_bot)
        yield client


async def test_a_user_photo_arrives_as_a_jpeg_size_ladder(tgemu_bot: Bot, user: TelegramUserClient) -> None:
    sent = await user.send_photo(image(2700, 1800), caption="вот фото")
    [update] = await drain(tgemu_bot)
    message = update.message
    assert message is not None and message.photo is not None
    assert message.message_id == sent.message_id and message.caption == "вот фото"
    assert [(p.width, p.height) for p in message.photo] == [
        (90, 60),
        (320, 213),
        (800, 533),
        (1280, 853),
        (2560, 1707),
    ]
    largest = await tgemu_bot.download(message.photo[-1].file_id)
    assert largest is not None
    with Image.open(largest) as decoded:
        assert (decoded.format, decoded.size) == ("JPEG", (2560, 1707))
    assert message.photo[-1].file_size == len(await user.download(message.photo[-1].file_id))


async def test_a_user_document_keeps_its_name_type_and_bytes(
    tgemu_bot: Bot, user: TelegramUserClient
) -> None:
    payload = image(640, 480)
    await user.send_document(payload, "портрет.png", mime_type="image/png", caption="без сжатия")
    [update] = await drain(tgemu_bot)
    document = update.message.document if update.message else None
    assert document is not None
    assert (document.file_name, document.mime_type, document.file_size) == (
        "портрет.png",
        "image/png",
        len(payload),
    )
    assert document.thumbnail is not None and document.thumbnail.width == 320
    downloaded = await tgemu_bot.download(document.file_id)
    assert downloaded is not None and downloaded.read() == payload

    await user.send_document(b"%PDF-1.4 fake", "scan.pdf")
    [update] = await drain(tgemu_bot)
    pdf = update.message.document if update.message else None
    assert pdf is not None and pdf.mime_type == "application/pdf" and pdf.thumbnail is None


async def test_an_album_is_separate_updates_sharing_a_media_group(
    tgemu_bot: Bot, user: TelegramUserClient
) -> None:
    await user.send_album([image(100, 100), image(200, 100), image(100, 200)], caption="слей")
    updates = await drain(tgemu_bot)
    messages = [u.message for u in updates if u.message]
    assert len(updates) == len(messages) == 3
    assert len({m.media_group_id for m in messages}) == 1 and messages[0].media_group_id
    assert [m.caption for m in messages] == ["слей", None, None]
    assert [m.photo[-1].width for m in messages if m.photo] == [100, 200, 100]

    documents = [AlbumItem(os.urandom(100), kind="document", file_name=f"{n}.bin") for n in range(2)]
    await user.send_album(documents)
    names = [u.message.document.file_name for u in await drain(tgemu_bot) if u.message and u.message.document]
    assert names == ["0.bin", "1.bin"]

    with pytest.raises(EmulatorError) as refused:
        await user.send_album([image(10, 10)])
    assert refused.value.status_code == 400


async def test_stickers_and_commands(tgemu_bot: Bot, user: TelegramUserClient) -> None:
    await user.send_sticker("🔥")
    await user.send_command("status", "job-42")
    sticker_update, command_update = await drain(tgemu_bot)
    sticker = sticker_update.message.sticker if sticker_update.message else None
    assert sticker is not None
    assert (sticker.emoji, sticker.width, sticker.height, sticker.is_animated) == ("🔥", 512, 512, False)
    downloaded = await tgemu_bot.download(sticker.file_id)
    assert downloaded is not None
    with Image.open(downloaded) as decoded:
        assert decoded.format == "WEBP"
    command = command_update.message
    assert command is not None and command.text == "/status job-42"
    assert [(e.type, e.length) for e in command.entities or []] == [("bot_command", 7)]


async def test_pressing_a_button_sends_a_real_callback_query(
    tgemu_bot: Bot, user: TelegramUserClient
) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="✏️ Редактировать", callback_data="res:edit:7")],
            [InlineKeyboardButton(text="Сайт", url="https://example.org")],
        ]
    )
    sent = await tgemu_bot.send_message(user.chat_id, "Результат", reply_markup=markup)
    query_id = await user.press_button(sent.message_id, index=0)
    [update] = await drain(tgemu_bot)
    query = update.callback_query
    assert query is not None and query.id == query_id
    assert query.data == "res:edit:7" and query.chat_instance
    assert (query.from_user.id, query.from_user.first_name) == (user.user_id, "Аня")
    assert query.message is not None and query.message.message_id == sent.message_id
    assert query.message.text == "Результат"

    pending = await user.callback_answer(query_id, timeout=0)
    assert not pending.answered
    assert await tgemu_bot.answer_callback_query(query_id, text="Нельзя", show_alert=True)
    answer = await user.callback_answer(query_id)
    assert (answer.answered, answer.text, answer.show_alert) == (True, "Нельзя", True)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await tgemu_bot.answer_callback_query(query_id)

    for bad_press in (
        user.press_button(sent.message_id, text="Сайт"),
        user.press_button(sent.message_id, data="res:upscale:7"),
        user.press_button(9999, index=0),
    ):
        with pytest.raises(EmulatorError):
            await bad_press
    forged = await user.press_button(sent.message_id, data="res:upscale:7", forge=True)
    [update] = await drain(tgemu_bot)
    assert update.callback_query is not None
    assert (update.callback_query.id, update.callback_query.data) == (forged, "res:upscale:7")


async def test_waiting_follows_edits_and_reports_timeouts(tgemu_bot: Bot, user: TelegramUserClient) -> None:
    progress = await tgemu_bot.send_message(user.chat_id, "Обработка…")
    waiting = asyncio.create_task(user.wait_for_message(predicate=lambda m: m.text == "Готово", timeout=5))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await tgemu_bot.edit_message_text("Готово", chat_id=user.chat_id, message_id=progress.message_id)
    done = await waiting
    assert done.message_id == progress.message_id and [e.text for e in done.edits] == ["Обработка…"]

    assert (await user.wait_for_reply()).message_id == progress.message_id
    await user.send_text("ещё что-нибудь?")
    with pytest.raises(TimeoutError, match="ещё что-нибудь"):
        await user.wait_for_reply(timeout=0.3)


async def test_groups_and_a_blocked_bot(
    tgemu_bot: Bot, tgemu: TelegramEmulator, user: TelegramUserClient
) -> None:
    async with tgemu.user(user_id=next(_user_ids)) as friend:
        group = await user.create_group("Команда", member_ids=[friend.user_id])
        await friend.send_text("всем привет", chat_id=group)
        [update] = await drain(tgemu_bot)
        message = update.message
        assert message is not None and message.from_user is not None
        assert (message.chat.id, message.chat.type, message.chat.title) == (
            group,
            "supergroup",
            "Команда",
        )
        assert message.from_user.id == friend.user_id
        await tgemu_bot.send_message(group, "привет, группа")
        assert [m.text for m in await friend.bot_messages(group)] == ["привет, группа"]

    async with tgemu.user(user_id=next(_user_ids)) as outsider:
        with pytest.raises(EmulatorError) as refused:
            await outsider.send_text("можно к вам?", chat_id=group)
        assert refused.value.status_code == 404

    await user.block_bot()
    [update] = await drain(tgemu_bot)
    member = update.my_chat_member
    assert member is not None and member.new_chat_member.status == "kicked"
    with pytest.raises(TelegramForbiddenError, match="Forbidden: bot was blocked by the user"):
        await tgemu_bot.send_message(user.chat_id, "вы тут?")
    await user.send_command("start")  # writing to a blocked bot unblocks it first
    unblocked, restarted = await drain(tgemu_bot)
    assert unblocked.my_chat_member is not None
    assert unblocked.my_chat_member.new_chat_member.status == "member"
    assert restarted.message is not None and restarted.message.text == "/start"
    await tgemu_bot.send_message(user.chat_id, "с возвращением")

    await user.block_bot()
    await user.unblock_bot()
    statuses = [u.my_chat_member.new_chat_member.status for u in await drain(tgemu_bot) if u.my_chat_member]
    assert statuses == ["kicked", "member"]
    await tgemu_bot.send_message(user.chat_id, "снова на связи")


async def test_users_sharing_one_connection_pool_stay_apart_and_leave_it_open(
    tgemu: TelegramEmulator, tgemu_bot: Bot
) -> None:
    async with shared_http(tgemu.base_url) as http:
        first, second = (tgemu.user(user_id=next(_user_ids), http=http) for _ in range(2))
        await first.send_text("я первый")
        await second.send_text("а я второй")
        updates = await drain(tgemu_bot)
        assert [
            (u.message.from_user.id, u.message.text) for u in updates if u.message and u.message.from_user
        ] == [
            (first.user_id, "я первый"),
            (second.user_id, "а я второй"),
        ]
        await first.aclose()  # the pool is the caller's: the other user goes on with it
        await second.send_text("ещё здесь")
        [update] = await drain(tgemu_bot)
        assert update.message is not None and update.message.text == "ещё здесь"
        assert not http.is_closed
    assert http.is_closed
