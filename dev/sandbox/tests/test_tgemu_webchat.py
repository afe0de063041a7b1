"""The web chat's side of the Telegram emulator: the page, the chat view with text drawn as safe
HTML, the user list and files served for a browser. The browser itself is driven in
tests/test_webchat_browser.py; here it is plain HTTP against a running emulator (drawing
text + entities is tested on its own in test_tgemu_webchat_render.py)."""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.types import BufferedInputFile
from medialab_sandbox.telegram import TelegramEmulator, TelegramUserClient
from medialab_sandbox.telegram.webchat import webchat_url
from PIL import Image

pytestmark = pytest.mark.asyncio(loop_scope="module")
_user_ids = itertools.count(5001)


def png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest_asyncio.fixture(loop_scope="module")
async def user(tgemu: TelegramEmulator) -> AsyncIterator[TelegramUserClient]:
    async with tgemu.user(user_id=next(_user_ids), first_name="Веб") as client:
        await client.send_command("start")
        yield client


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def http(tgemu: TelegramEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=tgemu.base_url, timeout=10) as client:
        yield client


async def test_the_page_and_its_files_are_served(tgemu: TelegramEmulator, http: httpx.AsyncClient) -> None:
    address = webchat_url("", tgemu.token, 1001)
    assert address == f"/_emu/{tgemu.bot().id}/webchat?user=1001"  # the bot's id, not its token
    page = await http.get(address)
    assert page.status_code == 200 and 'id="webchat"' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    for asset in ("/_emu/webchat/static/webchat.js", "/_emu/webchat/static/webchat.css"):
        assert asset in page.text
        assert (await http.get(asset)).status_code == 200
    assert (await http.get("/_emu/999:unknown/webchat")).status_code == 404
    assert (await http.get("/_emu/999/webchat")).status_code == 404


async def test_the_user_api_knows_a_bot_by_its_id(tgemu: TelegramEmulator, http: httpx.AsyncClient) -> None:
    by_id = (await http.get(f"/_emu/{tgemu.bot().id}/bot")).json()
    assert by_id == (await http.get(f"/_emu/{tgemu.token}/bot")).json()
    sent = await http.post(
        f"/_emu/{tgemu.bot().id}/chats/5998/text", json={"user_id": 5998, "text": "/start"}
    )
    assert sent.status_code == 200 and sent.json()["text"] == "/start"


async def test_the_view_draws_the_bots_html_safely(
    tgemu_bot: Bot, user: TelegramUserClient, http: httpx.AsyncClient, tgemu: TelegramEmulator
) -> None:
    await tgemu_bot.send_message(
        user.chat_id,
        '<b>Готово</b> &lt;script&gt;alert(1)&lt;/script&gt; <a href="javascript:alert(2)">тут</a>',
        parse_mode="HTML",
    )
    view = (await http.get(f"/_emu/{tgemu.token}/chats/{user.chat_id}/view")).json()
    bot_message = view["messages"][-1]
    assert bot_message["html"] == "<b>Готово</b> &lt;script&gt;alert(1)&lt;/script&gt; тут"
    assert view["messages"][0]["html"] == '<span class="tg-command">/start</span>'


async def test_the_view_long_polls_and_shows_edits_and_chat_actions(
    tgemu_bot: Bot, user: TelegramUserClient, http: httpx.AsyncClient, tgemu: TelegramEmulator
) -> None:
    path = f"/_emu/{tgemu.token}/chats/{user.chat_id}/view"
    sent = await tgemu_bot.send_message(user.chat_id, "Генерация: 10%")
    version = (await http.get(path)).json()["version"]

    waiting = asyncio.create_task(http.get(path, params={"since": version, "timeout": 8}))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # nothing changed yet: the request waits
    await tgemu_bot.edit_message_text(
        "Генерация: <i>90%</i>", chat_id=user.chat_id, message_id=sent.message_id, parse_mode="HTML"
    )
    edited = (await waiting).json()
    assert edited["version"] > version
    (message,) = [m for m in edited["messages"] if m["message_id"] == sent.message_id]
    assert message["html"] == "Генерация: <i>90%</i>" and message["edit_date"] is not None

    await tgemu_bot.send_chat_action(user.chat_id, "upload_photo")
    assert (await http.get(path)).json()["action"] == "upload_photo"
    await tgemu_bot.send_message(user.chat_id, "Вот")
    assert (await http.get(path)).json()["action"] is None  # the bot's answer ends the action


async def test_users_are_listed(user: TelegramUserClient, http: httpx.AsyncClient) -> None:
    await http.put("/_emu/users/5999", json={"user_id": 5999, "first_name": "Ева", "language_code": "en"})
    users = {u["user_id"]: u for u in (await http.get("/_emu/users")).json()}
    assert users[5999]["first_name"] == "Ева" and users[5999]["language_code"] == "en"
    assert users[user.user_id]["first_name"] == "Веб"


async def test_files_are_served_inline_only_when_a_browser_can_just_draw_them(
    tgemu_bot: Bot, user: TelegramUserClient, http: httpx.AsyncClient, tgemu: TelegramEmulator
) -> None:
    photo = await tgemu_bot.send_photo(user.chat_id, BufferedInputFile(png(), "a.png"))
    image_doc = await tgemu_bot.send_document(user.chat_id, BufferedInputFile(png(), "result.png"))
    page_doc = await tgemu_bot.send_document(
        user.chat_id, BufferedInputFile(b"<script>alert(1)</script>", "page.html")
    )
    assert photo.photo and image_doc.document and page_doc.document

    async def fetch(file_id: str) -> httpx.Response:
        response = await http.get(f"/_emu/{tgemu.token}/webchat/files/{file_id}")
        assert response.status_code == 200 and response.headers["x-content-type-options"] == "nosniff"
        return response

    shown = await fetch(photo.photo[-1].file_id)
    assert shown.headers["content-type"] == "image/jpeg" and "content-disposition" not in shown.headers
    assert (await fetch(image_doc.document.file_id)).headers["content-type"] == "image/png"
    html_file = await fetch(page_doc.document.file_id)
    assert html_file.headers["content-type"] == "application/octet-stream"
    assert html_file.headers["content-disposition"] == "attachment; filename*=UTF-8''page.html"
    assert html_file.content == b"<script>alert(1)</script>"
    assert (await http.get(f"/_emu/{tgemu.token}/webchat/files/nope")).status_code == 404
