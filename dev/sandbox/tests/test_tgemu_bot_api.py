"""Bot side of the Telegram emulator: aiogram against it, and Telegram's exact error shapes."""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)
from medialab_sandbox.telegram import (
    TelegramEmulator,
    TelegramUserClient,
)
from PIL import Image

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


def png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d) for t, d in pairs]]
    )


# One emulator and one bot for the module; every test talks to a fresh user (own chat).
pytestmark = pytest.mark.asyncio(loop_scope="module")
_user_ids = itertools.count(1001)
CHAT = object()  # stands for the test user's chat id in parametrized requests


@pytest_asyncio.fixture(loop_scope="module")
async def user(tgemu: TelegramEmulator) -> AsyncIterator[TelegramUserClient]:
    async with tgemu.user(user_id=next(_user_ids)) as client:
        await client.send_command("start")
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def raw(tgemu: TelegramEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{tgemu.base_url}/bot{tgemu.token}/") as http:
        yield http


async def test_aiogram_sends_edits_and_sees_not_modified(tgemu_bot: Bot, user: TelegramUserClient) -> None:
    me = await tgemu_bot.get_me()
    assert me.is_bot and me.id == 123456789 and me.username

    markup = keyboard(("🎨 Создать", "create"), ("✍️ Написать", "write"))
    sent = await tgemu_bot.send_message(
        user.chat_id, "<b>Привет</b>, выберите", parse_mode="HTML", reply_markup=markup
    )
    assert sent.text == "Привет, выберите"
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [("bold", 0, 6)]
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == markup.model_dump()

    shown = await user.wait_for_reply(lambda m: bool(m.inline_buttons))
    assert [(b.text, b.callback_data) for b in shown.inline_buttons] == [
        ("🎨 Создать", "create"),
        ("✍️ Написать", "write"),
    ]

    edited = await tgemu_bot.edit_message_text(
        "Готово", chat_id=user.chat_id, message_id=sent.message_id, reply_markup=markup
    )
    assert edited.text == "Готово" and edited.edit_date is not None
    with pytest.raises(TelegramBadRequest) as not_modified:
        await tgemu_bot.edit_message_text(
            "Готово", chat_id=user.chat_id, message_id=sent.message_id, reply_markup=markup
        )
    assert not_modified.value.message == NOT_MODIFIED

    await tgemu_bot.edit_message_reply_markup(chat_id=user.chat_id, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="there is no caption in the message to edit"):
        await tgemu_bot.edit_message_caption(chat_id=user.chat_id, message_id=sent.message_id, caption="x")

    final = await user.wait_for_message(predicate=lambda m: m.message_id == sent.message_id)
    assert final.text == "Готово" and final.reply_markup is None
    assert [v.text for v in final.edits] == ["Привет, выберите", "Готово"]
    assert final.edits[0].reply_markup == markup.model_dump(exclude_none=True)


async def test_requests_record_uploads_but_not_a_resend_by_file_id(
    tgemu: TelegramEmulator, tgemu_bot: Bot, user: TelegramUserClient
) -> None:
    first = await tgemu_bot.send_document(user.chat_id, BufferedInputFile(png(64, 48), "a.png"))
    assert first.document is not None
    await tgemu_bot.send_document(user.chat_id, first.document.file_id)
    sends = [r for r in tgemu.requests if r.method == "sendDocument"]
    assert [len(r.uploaded_files) for r in sends] == [1, 0]  # aiogram names its parts at random


async def test_document_round_trip_is_byte_for_byte(tgemu_bot: Bot, user: TelegramUserClient) -> None:
    payload = os.urandom(300_000)
    sent = await tgemu_bot.send_document(
        user.chat_id,
        BufferedInputFile(payload, "result.bin"),
        caption="<i>ok</i>",
        parse_mode="HTML",
    )
    document = sent.document
    assert document is not None
    assert (document.file_name, document.mime_type, document.file_size) == (
        "result.bin",
        "application/octet-stream",
        len(payload),
    )
    assert sent.caption == "ok"

    file = await tgemu_bot.get_file(document.file_id)
    assert file.file_size == len(payload) and file.file_path
    downloaded = await tgemu_bot.download(document.file_id)
    assert downloaded is not None and downloaded.read() == payload
    assert await user.download(document.file_id) == payload

    image = await tgemu_bot.send_document(user.chat_id, BufferedInputFile(png(800, 600), "r.png"))
    assert image.document is not None and image.document.mime_type == "image/png"
    thumbnail = image.document.thumbnail
    assert thumbnail is not None and (thumbnail.width, thumbnail.height) == (320, 240)

    again = await tgemu_bot.send_document(user.chat_id, document.file_id)
    assert again.document is not None and again.document.file_id == document.file_id


async def test_photo_gets_telegram_size_ladder_largest_last(tgemu_bot: Bot, user: TelegramUserClient) -> None:
    sent = await tgemu_bot.send_photo(user.chat_id, BufferedInputFile(png(1600, 1200), "p.png"))
    sizes = sent.photo or []
    assert [(s.width, s.height) for s in sizes] == [
        (90, 68),
        (320, 240),
        (800, 600),
        (1280, 960),
        (1600, 1200),
    ]
    assert len({s.file_id for s in sizes}) == len(sizes)
    for size in sizes:
        data = await tgemu_bot.download(size.file_id)
        assert data is not None
        with Image.open(data) as decoded:
            assert decoded.format == "JPEG" and decoded.size == (size.width, size.height)

    resent = await tgemu_bot.send_photo(user.chat_id, sizes[-1].file_id)
    assert [s.model_dump() for s in resent.photo or []] == [s.model_dump() for s in sizes]
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await tgemu_bot.send_photo(user.chat_id, BufferedInputFile(b"not an image", "x.png"))
    with pytest.raises(TelegramBadRequest, match="PHOTO_INVALID_DIMENSIONS"):
        await tgemu_bot.send_photo(user.chat_id, BufferedInputFile(png(2100, 100), "wide.png"))


async def test_photo_by_url_and_caption_edits(
    tgemu_bot: Bot, tgemu: TelegramEmulator, user: TelegramUserClient
) -> None:
    # The emulator's own file URLs serve as "somewhere on the internet".
    source = await tgemu_bot.send_document(user.chat_id, BufferedInputFile(png(400, 300), "src.png"))
    assert source.document is not None
    path = (await tgemu_bot.get_file(source.document.file_id)).file_path
    url = f"{tgemu.base_url}/file/bot{tgemu.token}/{path}"
    by_url = await tgemu_bot.send_photo(user.chat_id, url, caption="из сети")
    assert by_url.photo is not None and (by_url.photo[-1].width, by_url.photo[-1].height) == (
        400,
        300,
    )
    with pytest.raises(TelegramBadRequest, match="failed to get HTTP URL content"):
        await tgemu_bot.send_photo(user.chat_id, f"{tgemu.base_url}/file/bot{tgemu.token}/nope")

    edited = await tgemu_bot.edit_message_caption(
        chat_id=user.chat_id, message_id=by_url.message_id, caption="<b>новая</b>", parse_mode="HTML"
    )
    assert edited.caption == "новая" and edited.photo == by_url.photo
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await tgemu_bot.edit_message_caption(
            chat_id=user.chat_id, message_id=by_url.message_id, caption="x" * 1025
        )
    with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
        await tgemu_bot.edit_message_text("x", chat_id=user.chat_id, message_id=by_url.message_id)
    removed = await tgemu_bot.edit_message_caption(chat_id=user.chat_id, message_id=by_url.message_id)
    assert removed.caption is None


async def test_media_group_sends_one_message_per_item(tgemu_bot: Bot, user: TelegramUserClient) -> None:
    photos = [
        InputMediaPhoto(media=BufferedInputFile(png(100 + i, 80), f"{i}.png"), caption=f"№{i}")
        for i in range(3)
    ]
    album = await tgemu_bot.send_media_group(user.chat_id, photos)
    assert len(album) == 3
    assert len({m.media_group_id for m in album}) == 1 and album[0].media_group_id
    assert [m.caption for m in album] == ["№0", "№1", "№2"]
    assert [m.photo[-1].width for m in album if m.photo] == [100, 101, 102]

    documents = [
        InputMediaDocument(media=BufferedInputFile(f"doc {i}".encode(), f"{i}.txt")) for i in range(2)
    ]
    files = await tgemu_bot.send_media_group(user.chat_id, documents)
    assert [m.document.file_name for m in files if m.document] == ["0.txt", "1.txt"]

    with pytest.raises(TelegramBadRequest, match="Too much messages to send as an album"):
        await tgemu_bot.send_media_group(user.chat_id, [photos[0]] * 11)
    with pytest.raises(TelegramBadRequest, match="media group must include 2-10 items"):
        await tgemu_bot.send_media_group(user.chat_id, [photos[0]])
    with pytest.raises(TelegramBadRequest, match="documents can't be mixed"):
        await tgemu_bot.send_media_group(user.chat_id, [photos[0], documents[0]])


@pytest.mark.parametrize(
    ("method", "params", "status", "description"),
    [
        ("sendMessage", {"chat_id": 555, "text": "hi"}, 400, "Bad Request: chat not found"),
        ("sendMessage", {"chat_id": "abc", "text": "hi"}, 400, "Bad Request: chat not found"),
        ("sendMessage", {"text": "hi"}, 400, "Bad Request: chat_id is empty"),
        ("sendMessage", {"chat_id": CHAT}, 400, "Bad Request: message text is empty"),
        ("sendMessage", {"chat_id": CHAT, "text": " \n "}, 400, "Bad Request: message text is empty"),
        ("sendMessage", {"chat_id": CHAT, "text": "x" * 4097}, 400, "Bad Request: message is too long"),
        # Telegram counts UTF-16 code units: each emoji below is two.
        ("sendMessage", {"chat_id": CHAT, "text": "😀" * 2049}, 400, "Bad Request: message is too long"),
        (
            "sendMessage",
            {"chat_id": CHAT, "text": "<x>hi</x>", "parse_mode": "HTML"},
            400,
            'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 0',
        ),
        (
            "sendMessage",
            {"chat_id": CHAT, "text": "1.5", "parse_mode": "MarkdownV2"},
            400,
            "Bad Request: can't parse entities: Character '.' is reserved and must be escaped "
            "with the preceding '\\'",
        ),
        (
            "sendMessage",
            {
                "chat_id": CHAT,
                "text": "hi",
                "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "x" * 65}]]},
            },
            400,
            "Bad Request: BUTTON_DATA_INVALID",
        ),
        (
            "sendMessage",
            {
                "chat_id": CHAT,
                "text": "hi",
                "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": ""}]]},
            },
            400,
            "Bad Request: BUTTON_DATA_INVALID",
        ),
        (
            "sendMessage",
            {"chat_id": CHAT, "text": "hi", "reply_markup": {"inline_keyboard": [[{"text": "a"}]]}},
            400,
            "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in "
            "the inline keyboard",
        ),
        (
            "sendMessage",
            {
                "chat_id": CHAT,
                "text": "hi",
                "reply_markup": {"inline_keyboard": [[{"text": "a", "url": "ftp://x"}]]},
            },
            400,
            "Bad Request: BUTTON_URL_INVALID",
        ),
        (
            "sendMessage",
            {"chat_id": CHAT, "text": "hi", "reply_markup": {"inline_keyboard": "oops"}},
            400,
            'Bad Request: field "inline_keyboard" of the reply markup must be an array of arrays',
        ),
        (
            "sendMessage",
            {"chat_id": CHAT, "text": "hi", "reply_markup": "{"},
            400,
            "Bad Request: can't parse reply keyboard markup JSON object",
        ),
        (
            "sendMessage",
            {"chat_id": CHAT, "text": "hi", "reply_to_message_id": 999},
            400,
            "Bad Request: message to be replied not found",
        ),
        ("sendPhoto", {"chat_id": CHAT}, 400, "Bad Request: there is no photo in the request"),
        (
            "sendPhoto",
            {"chat_id": CHAT, "photo": "nonsense"},
            400,
            "Bad Request: wrong file identifier/HTTP URL specified",
        ),
        (
            "sendDocument",
            {"chat_id": CHAT, "document": "attach://missing"},
            400,
            'Bad Request: invalid file attachment: part "missing" not found',
        ),
        (
            "editMessageText",
            {"chat_id": CHAT, "message_id": 999, "text": "x"},
            400,
            "Bad Request: message to edit not found",
        ),
        (
            "editMessageText",
            {"chat_id": CHAT, "message_id": 1, "text": "x"},
            400,
            "Bad Request: message can't be edited",
        ),
        (
            "editMessageText",
            {"chat_id": CHAT, "text": "x"},
            400,
            "Bad Request: message identifier is not specified",
        ),
        (
            "editMessageCaption",
            {"chat_id": CHAT, "message_id": 999, "caption": "x"},
            400,
            "Bad Request: message to edit not found",
        ),
        (
            "editMessageReplyMarkup",
            {"chat_id": CHAT, "message_id": 999},
            400,
            "Bad Request: message to edit not found",
        ),
        (
            "deleteMessage",
            {"chat_id": CHAT, "message_id": 999},
            400,
            "Bad Request: message to delete not found",
        ),
        (
            "answerCallbackQuery",
            {"callback_query_id": "42"},
            400,
            "Bad Request: query is too old and response timeout expired or query ID is invalid",
        ),
        (
            "sendChatAction",
            {"chat_id": CHAT, "action": "dancing"},
            400,
            "Bad Request: wrong parameter action in request",
        ),
        ("getFile", {"file_id": "nope"}, 400, "Bad Request: invalid file_id"),
        (
            "setMyCommands",
            {"commands": [{"command": "Start!", "description": "x"}]},
            400,
            "Bad Request: BOT_COMMAND_INVALID",
        ),
        (
            "setWebhook",
            {"url": "ftp://example.org/hook"},
            400,
            "Bad Request: bad webhook: An HTTP or HTTPS URL must be provided for webhook",
        ),
        ("noSuchMethod", {}, 404, "Not Found"),
    ],
)
async def test_errors_have_telegram_envelopes(
    raw: httpx.AsyncClient,
    user: TelegramUserClient,
    method: str,
    params: dict[str, Any],
    status: int,
    description: str,
) -> None:
    body = {key: user.chat_id if value is CHAT else value for key, value in params.items()}
    response = await raw.post(method, json=body)
    assert response.status_code == status
    assert response.json() == {"ok": False, "error_code": status, "description": description}


async def test_wrong_token_is_unauthorized_and_strangers_cannot_be_messaged(
    tgemu: TelegramEmulator, raw: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=tgemu.base_url) as http:
        for path in ("/bot1:wrong/getMe", "/file/bot1:wrong/documents/file_0.txt"):
            response = await http.get(path)
            assert response.status_code == 401
            assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}

    async with tgemu.user(user_id=2002) as stranger:
        await stranger.register()
    response = await raw.post("sendMessage", json={"chat_id": 2002, "text": "hi"})
    assert response.status_code == 403
    assert response.json()["description"] == "Forbidden: bot can't initiate conversation with a user"


async def test_every_body_encoding_is_accepted(raw: httpx.AsyncClient, user: TelegramUserClient) -> None:
    chat = user.chat_id
    markup = '{"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}'
    answers = [
        await raw.post("sendMessage", json={"chat_id": chat, "text": "json"}),
        await raw.post("sendMessage", data={"chat_id": str(chat), "text": "form"}),
        await raw.post(
            "sendMessage",
            data={"chat_id": str(chat), "text": "multipart", "reply_markup": markup},
            files={"unused": ("x.txt", b"x")},
        ),
        await raw.get("sendMessage", params={"chat_id": chat, "text": "query"}),
        await raw.post("SENDMESSAGE", json={"chat_id": chat, "text": "any case"}),
    ]
    assert [a.status_code for a in answers] == [200] * 5
    assert [a.json()["result"]["text"] for a in answers] == [
        "json",
        "form",
        "multipart",
        "query",
        "any case",
    ]
    assert answers[2].json()["result"]["reply_markup"] == {
        "inline_keyboard": [[{"text": "a", "callback_data": "b"}]]
    }
    limit = await raw.post("sendMessage", json={"chat_id": chat, "text": "😀" * 2048})
    assert limit.status_code == 200


async def test_delete_marks_the_message_deleted(tgemu_bot: Bot, user: TelegramUserClient) -> None:
    sent = await tgemu_bot.send_message(user.chat_id, "temporary")
    assert await tgemu_bot.delete_message(user.chat_id, sent.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await tgemu_bot.delete_message(user.chat_id, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await tgemu_bot.edit_message_text("x", chat_id=user.chat_id, message_id=sent.message_id)
    messages = await user.bot_messages(include_deleted=True)
    assert [(m.text, m.deleted) for m in messages] == [("temporary", True)]
    assert await user.bot_messages() == []


async def test_replies_markdown_and_keyboards(tgemu_bot: Bot, user: TelegramUserClient) -> None:
    question = await user.send_text("какой сегодня день?")
    answer = await tgemu_bot.send_message(
        user.chat_id,
        r"*Среда* и _точка_\.",
        parse_mode="MarkdownV2",
        reply_parameters=ReplyParameters(message_id=question.message_id),
    )
    assert answer.text == "Среда и точка."
    assert [e.type for e in answer.entities or []] == ["bold", "italic"]
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.message_id == question.message_id

    menu = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="🎨 Создать"), KeyboardButton(text="💰 Баланс")]],
        resize_keyboard=True,
    )
    await tgemu_bot.send_message(user.chat_id, "Меню", reply_markup=menu)
    transcript = await user.transcript()
    assert transcript.reply_keyboard is not None
    assert [b["text"] for b in transcript.reply_keyboard["keyboard"][0]] == ["🎨 Создать", "💰 Баланс"]
    sent = await tgemu_bot.send_message(user.chat_id, "Убрано", reply_markup=ReplyKeyboardRemove())
    assert sent.reply_markup is None  # Telegram only echoes inline keyboards
    assert (await user.transcript()).reply_keyboard is None


async def test_commands_and_chat_actions(tgemu_bot: Bot, user: TelegramUserClient) -> None:
    commands = [
        BotCommand(command="start", description="Начать"),
        BotCommand(command="menu", description="Меню"),
    ]
    assert await tgemu_bot.set_my_commands(commands)
    scope = BotCommandScopeChat(chat_id=user.chat_id)
    assert await tgemu_bot.set_my_commands(commands[:1], scope=scope, language_code="ru")
    assert [c.command for c in await tgemu_bot.get_my_commands()] == ["start", "menu"]
    scoped = await tgemu_bot.get_my_commands(scope=scope, language_code="ru")
    assert [(c.command, c.description) for c in scoped] == [("start", "Начать")]
    assert await tgemu_bot.get_my_commands(scope=scope) == []
    assert await tgemu_bot.delete_my_commands()
    assert await tgemu_bot.get_my_commands() == []

    assert await tgemu_bot.send_chat_action(user.chat_id, "upload_photo")
    actions = (await user.transcript()).actions
    assert [a.action for a in actions] == ["upload_photo"]
