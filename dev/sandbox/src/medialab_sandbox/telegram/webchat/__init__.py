"""A web chat with the emulated bot: a browser page that acts as one or more Telegram users.

The page (static HTML, CSS and vanilla JS in ``static/``, no build step) lives at
``/_emu/<bot id>/webchat`` and talks to the same user API the terminal chat client uses; what it
adds is here: the chat view with each message's text already drawn as safe HTML, and files served
with a content type a browser may show inline.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, HTTPException, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from ..schemas import TranscriptMessage
from ..state import BotState, ChatState, EmulatorState, MessageRecord, StoredFile
from ..user_api import PREFIX, find_bot, read_chat
from .render import entities_to_html

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = f"{PREFIX}/webchat/static"
# Telegram clients show a chat action for 5 s, or until the bot's next message.
ACTION_SECONDS = 5.0
# Only raster formats a browser draws without running anything; every other file is a download.
_INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
_KIND_TYPES = {"photos": "image/jpeg", "thumbnails": "image/jpeg", "stickers": "image/webp"}
# The page runs only its own script and style; bot and user content can never add any.
_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class WebMessage(TranscriptMessage):
    html: str = ""  # the text or caption drawn from its entities, every character escaped


class WebChatView(BaseModel):
    chat_id: int
    version: int
    messages: list[WebMessage]
    reply_keyboard: dict[str, Any] | None = None
    action: str | None = None  # "typing", "upload_photo", ... while the bot shows one


def webchat_url(base_url: str, token: str, user_id: int | None = None) -> str:
    """Where the web chat with bot ``token`` opens (as user ``user_id``, if given); the address
    names the bot by its id, never by its token."""
    bot_id = token.partition(":")[0]
    url = f"{base_url}{PREFIX}/{bot_id}/webchat"
    return f"{url}?user={user_id}" if user_id is not None else url


def install_webchat(app: FastAPI, world: EmulatorState) -> None:
    app.include_router(_router(world))
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="webchat-static")


def _router(world: EmulatorState) -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    @router.get("/{token}/webchat", response_class=HTMLResponse)
    async def webchat_page(token: str) -> HTMLResponse:
        find_bot(world, token)
        return HTMLResponse(page, headers={"Content-Security-Policy": _PAGE_POLICY})

    @router.get("/{token}/chats/{chat_id}/view")
    async def chat_view(token: str, chat_id: int, since: int = -1, timeout: float = 0.0) -> WebChatView:
        """The transcript for the page: long-polls like /transcript, with text drawn as HTML."""
        chat = await read_chat(world, token, chat_id, since, timeout)
        return WebChatView(
            chat_id=chat.id,
            version=chat.signal.version,
            messages=[_web_message(record) for record in chat.messages.values()],
            reply_keyboard=chat.reply_keyboard,
            action=_current_action(chat),
        )

    @router.get("/{token}/webchat/files/{file_id}")
    async def webchat_file(token: str, file_id: str) -> Response:
        bot = find_bot(world, token)
        stored = bot.files.get(file_id)
        if stored is None:
            raise HTTPException(404, "file not found")
        return _file_response(bot, stored)

    return router


def _web_message(record: MessageRecord) -> WebMessage:
    message = record.to_transcript()
    if message.text is not None:
        drawn = entities_to_html(message.text, message.entities)
    else:
        drawn = entities_to_html(message.caption or "", message.caption_entities)
    return WebMessage(**message.model_dump(), html=drawn)


def _current_action(chat: ChatState) -> str | None:
    if not chat.actions:
        return None
    last = chat.actions[-1]
    answered = any(
        record.from_bot and message_id > last.after_message_id for message_id, record in chat.messages.items()
    )
    return None if answered or time.time() - last.at > ACTION_SECONDS else last.action


def _file_response(bot: BotState, stored: StoredFile) -> Response:
    document = bot.documents.get(stored.file_id)
    media_type = document.mime_type if document is not None else _KIND_TYPES.get(stored.kind)
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"}
    if media_type in _INLINE_TYPES:
        return Response(stored.data, media_type=media_type, headers=headers)
    name = (document.file_name if document is not None else None) or stored.file_path.rsplit("/", 1)[-1]
    headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return Response(stored.data, media_type="application/octet-stream", headers=headers)
