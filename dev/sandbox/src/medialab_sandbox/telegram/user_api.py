"""The emulator's own HTTP API under /_emu: act as users, read transcripts, turn knobs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Response, UploadFile

from .config import RateLimitConfig
from .errors import TelegramError
from .schemas import (
    BotInfo,
    CallbackAnswer,
    FaultSpec,
    GroupInfo,
    GroupRequest,
    LatencySpec,
    PayInvoiceRequest,
    PaymentOutcome,
    PressButtonRequest,
    PressButtonResult,
    RateLimitHit,
    RequestRecord,
    SendTextRequest,
    StickerRequest,
    Transcript,
    TranscriptMessage,
    UserProfile,
    WebhookAttempt,
)
from .state import BotState, ChatState, EmulatorState
from .user_actions import (
    AlbumPart,
    create_group,
    pay_invoice,
    press_button,
    redeliver_payment,
    send_album,
    send_document,
    send_photo,
    send_sticker,
    send_text,
    set_blocked,
)

PREFIX = "/_emu"
MAX_WAIT_SECONDS = 60.0


@contextmanager
def _user_errors() -> Iterator[None]:
    """Bad user-side requests become 4xx answers with a readable detail."""
    try:
        yield
    except LookupError as error:
        raise HTTPException(404, str(error)) from None
    except ValueError as error:
        raise HTTPException(400, str(error)) from None
    except TelegramError as error:
        raise HTTPException(400, error.description) from None


def find_bot(world: EmulatorState, token: str) -> BotState:
    """The bot a user-side path names: by its token, or by its id alone (as a Telegram user knows
    a bot: the web chat's address carries no secret)."""
    bot = world.bots.get(token)
    if bot is None and token.isdigit():
        bot = next((each for each in world.bots.values() if each.id == int(token)), None)
    if bot is None:
        raise HTTPException(404, "unknown bot token")
    return bot


def _chat_for_reading(world: EmulatorState, bot: BotState, chat_id: int) -> ChatState:
    if chat_id > 0:
        return bot.private_chat(world.user(chat_id))
    chat = bot.chats.get(chat_id)
    if chat is None:
        raise HTTPException(404, f"chat {chat_id} not found")
    return chat


async def read_chat(world: EmulatorState, token: str, chat_id: int, since: int, timeout: float) -> ChatState:
    """The chat, once its version is past ``since`` or ``timeout`` (capped) has passed."""
    chat = _chat_for_reading(world, find_bot(world, token), chat_id)
    if chat.signal.version <= since:
        await chat.signal.wait_past(since, min(timeout, MAX_WAIT_SECONDS), world.closing)
    return chat


def build_user_router(world: EmulatorState) -> APIRouter:
    router = APIRouter(prefix=PREFIX)

    def bot_for(token: str) -> BotState:
        return find_bot(world, token)

    @router.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @router.get("/users")
    async def list_users() -> list[UserProfile]:
        """Every user the emulator knows (registered, or acted once), by id."""
        return [
            UserProfile(
                user_id=user.id,
                first_name=user.first_name,
                last_name=user.last_name,
                username=user.username,
                language_code=user.language_code,
            )
            for user in sorted(world.users.values(), key=lambda user: user.id)
        ]

    @router.put("/users/{user_id}")
    async def register_user(user_id: int, profile: UserProfile) -> UserProfile:
        if profile.user_id != user_id:
            raise HTTPException(400, "user_id in the path and the body differ")
        world.register_user(profile)
        return profile

    @router.get("/{token}/bot")
    async def bot_info(token: str) -> BotInfo:
        user = bot_for(token).user
        return BotInfo(id=user.id, username=user.username or "", first_name=user.first_name)

    @router.post("/{token}/chats/{chat_id}/text")
    async def user_text(token: str, chat_id: int, body: SendTextRequest) -> TranscriptMessage:
        with _user_errors():
            record = send_text(bot_for(token), chat_id, body.user_id, body.text, body.reply_to_message_id)
        return record.to_transcript()

    @router.post("/{token}/chats/{chat_id}/photo")
    async def user_photo(
        token: str,
        chat_id: int,
        user_id: Annotated[int, Form()],
        file: Annotated[UploadFile, File()],
        caption: Annotated[str | None, Form()] = None,
    ) -> TranscriptMessage:
        with _user_errors():
            record = await send_photo(bot_for(token), chat_id, user_id, await file.read(), caption)
        return record.to_transcript()

    @router.post("/{token}/chats/{chat_id}/document")
    async def user_document(
        token: str,
        chat_id: int,
        user_id: Annotated[int, Form()],
        file: Annotated[UploadFile, File()],
        caption: Annotated[str | None, Form()] = None,
        mime_type: Annotated[str | None, Form()] = None,
    ) -> TranscriptMessage:
        with _user_errors():
            record = await send_document(
                bot_for(token),
                chat_id,
                user_id,
                await file.read(),
                file.filename or "document",
                mime_type=mime_type,
                caption=caption,
            )
        return record.to_transcript()

    @router.post("/{token}/chats/{chat_id}/album")
    async def user_album(
        token: str,
        chat_id: int,
        user_id: Annotated[int, Form()],
        kinds: Annotated[str, Form(description="JSON list: photo|document per file")],
        files: Annotated[list[UploadFile], File()],
        caption: Annotated[str | None, Form()] = None,
    ) -> list[TranscriptMessage]:
        with _user_errors():
            kind_list = json.loads(kinds)
            if not isinstance(kind_list, list) or len(kind_list) != len(files):
                raise ValueError("kinds must list one kind per file")
            parts = [
                AlbumPart(
                    kind=str(kind),
                    data=await upload.read(),
                    file_name=upload.filename,
                    mime_type=upload.content_type
                    if upload.content_type != "application/octet-stream"
                    else None,
                )
                for kind, upload in zip(kind_list, files, strict=True)
            ]
            records = await send_album(bot_for(token), chat_id, user_id, parts, caption)
        return [record.to_transcript() for record in records]

    @router.post("/{token}/chats/{chat_id}/sticker")
    async def user_sticker(token: str, chat_id: int, body: StickerRequest) -> TranscriptMessage:
        with _user_errors():
            record = send_sticker(bot_for(token), chat_id, body.user_id, body.emoji)
        return record.to_transcript()

    @router.post("/{token}/chats/{chat_id}/callback")
    async def user_press(token: str, chat_id: int, body: PressButtonRequest) -> PressButtonResult:
        with _user_errors():
            callback = press_button(bot_for(token), chat_id, body)
        return PressButtonResult(callback_query_id=callback.query.id)

    @router.post("/{token}/chats/{chat_id}/pay")
    async def user_pay(token: str, chat_id: int, body: PayInvoiceRequest) -> PaymentOutcome:
        with _user_errors():
            return await pay_invoice(bot_for(token), chat_id, body.user_id, body.message_id)

    @router.post("/{token}/payments/{charge_id}/redeliver")
    async def redeliver(token: str, charge_id: str) -> dict[str, bool]:
        with _user_errors():
            redeliver_payment(bot_for(token), charge_id)
        return {"ok": True}

    @router.get("/{token}/callbacks/{query_id}")
    async def callback_answer(token: str, query_id: str, timeout: float = 0.0) -> CallbackAnswer:
        bot = bot_for(token)
        callback = bot.callbacks.get(query_id)
        if callback is None:
            raise HTTPException(404, f"callback query {query_id} not found")
        if not callback.answer.answered:
            await callback.signal.wait_past(0, min(timeout, MAX_WAIT_SECONDS), abort=world.closing)
        return callback.answer

    @router.get("/{token}/chats/{chat_id}/transcript")
    async def transcript(token: str, chat_id: int, since: int = -1, timeout: float = 0.0) -> Transcript:
        chat = await read_chat(world, token, chat_id, since, timeout)
        return Transcript(
            chat_id=chat.id,
            version=chat.signal.version,
            messages=[record.to_transcript() for record in chat.messages.values()],
            reply_keyboard=chat.reply_keyboard,
            actions=list(chat.actions),
        )

    @router.get("/{token}/files/{file_id}")
    async def download(token: str, file_id: str) -> Response:
        stored = bot_for(token).files.get(file_id)
        if stored is None:
            raise HTTPException(404, "file not found")
        return Response(stored.data, media_type="application/octet-stream")

    @router.post("/{token}/groups")
    async def new_group(token: str, body: GroupRequest) -> GroupInfo:
        chat = create_group(bot_for(token), body.title, body.member_ids)
        return GroupInfo(chat_id=chat.id, title=body.title)

    @router.post("/{token}/users/{user_id}/block")
    async def block(token: str, user_id: int) -> dict[str, bool]:
        set_blocked(bot_for(token), user_id, True)
        return {"ok": True}

    @router.post("/{token}/users/{user_id}/unblock")
    async def unblock(token: str, user_id: int) -> dict[str, bool]:
        set_blocked(bot_for(token), user_id, False)
        return {"ok": True}

    @router.get("/{token}/rate-limit-hits")
    async def rate_limit_hits(token: str) -> list[RateLimitHit]:
        return bot_for(token).rate_limit_hits

    @router.delete("/{token}/rate-limit-hits")
    async def clear_rate_limit_hits(token: str) -> dict[str, bool]:
        bot_for(token).rate_limit_hits.clear()
        return {"ok": True}

    @router.get("/{token}/rate-limits")
    async def get_rate_limits(token: str) -> RateLimitConfig:
        return bot_for(token).rate_limiter.config

    @router.put("/{token}/rate-limits")
    async def set_rate_limits(token: str, config: RateLimitConfig) -> RateLimitConfig:
        bot_for(token).rate_limiter.config = config
        return config

    @router.post("/{token}/faults")
    async def add_fault(token: str, spec: FaultSpec) -> dict[str, bool]:
        bot_for(token).faults.add(spec)
        return {"ok": True}

    @router.delete("/{token}/faults")
    async def clear_faults(token: str) -> dict[str, bool]:
        bot_for(token).faults.clear()
        return {"ok": True}

    @router.put("/{token}/latency")
    async def set_latency(token: str, spec: LatencySpec) -> dict[str, bool]:
        bot_for(token).faults.set_latency(spec.seconds, spec.method)
        return {"ok": True}

    @router.get("/{token}/webhook-attempts")
    async def webhook_attempts(token: str) -> list[WebhookAttempt]:
        return bot_for(token).webhook_attempts

    @router.get("/{token}/requests")
    async def requests(token: str) -> list[RequestRecord]:
        return bot_for(token).requests

    return router
