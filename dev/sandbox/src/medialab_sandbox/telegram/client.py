"""Async Python clients of the emulator's /_emu API: a user, and the test-side controls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from ..lifecycle import Closable
from .config import RateLimitConfig
from .schemas import (
    BotInfo,
    CallbackAnswer,
    FaultSpec,
    GroupInfo,
    LatencySpec,
    PaymentOutcome,
    PressButtonResult,
    RateLimitHit,
    RequestRecord,
    Transcript,
    TranscriptMessage,
    UserProfile,
    WebhookAttempt,
)

Predicate = Callable[[TranscriptMessage], bool]
ModelT = TypeVar("ModelT", bound=BaseModel)

# The server caps a single long poll; longer waits are made of several.
_LONG_POLL_SLICE = 25.0


class EmulatorError(RuntimeError):
    """The emulator refused a user-side or control request."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True)
class AlbumItem:
    data: bytes
    kind: Literal["photo", "document"] = "photo"
    file_name: str = "file.jpg"
    mime_type: str | None = None


def shared_http(base_url: str, timeout: float = 30.0) -> httpx.AsyncClient:
    """One connection pool for many simulated users (``http=`` of ``TelegramUserClient``): a load
    generator of a thousand users would otherwise hold a thousand pools, each with its own TLS context
    (about 1 MB and 20 ms of CPU apiece), and walk them in every full garbage collection."""
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        timeout=timeout,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=200),
    )


class _Http(Closable):
    """Shared plumbing: one httpx client, errors turned into EmulatorError."""

    def __init__(
        self, base_url: str, token: str, timeout: float, http: httpx.AsyncClient | None = None
    ) -> None:
        self.token = token
        # A client handed in belongs to the caller, who closes it.
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self._http.request(method, f"/_emu{path}", **kwargs)
        if response.status_code >= 400:
            try:
                detail = str(response.json().get("detail"))
            except ValueError:
                detail = response.text
            raise EmulatorError(response.status_code, detail)
        return response

    async def model(self, model: type[ModelT], method: str, path: str, **kwargs: Any) -> ModelT:
        return model.model_validate_json((await self.request(method, path, **kwargs)).content)

    async def models(self, model: type[ModelT], method: str, path: str, **kwargs: Any) -> list[ModelT]:
        response = await self.request(method, path, **kwargs)
        return TypeAdapter(list[model]).validate_json(response.content)  # type: ignore[valid-type]


class TelegramUserClient(_Http):
    """One Telegram user talking to one bot of the emulator.

    Every ``chat_id`` argument defaults to the user's private chat with the bot.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        user_id: int = 1001,
        first_name: str = "Тест",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ru",
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(base_url, token, timeout, http)
        self.profile = UserProfile(
            user_id=user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        self._registered = False
        self._last_sent: dict[int, int] = {}

    @property
    def user_id(self) -> int:
        return self.profile.user_id

    @property
    def chat_id(self) -> int:
        """The private chat with the bot (Telegram uses the user's id for it)."""
        return self.profile.user_id

    async def register(self) -> None:
        """Create or update this user's profile; sending does it on first use."""
        await self.request("PUT", f"/users/{self.user_id}", json=self.profile.model_dump(mode="json"))
        self._registered = True

    async def bot_info(self) -> BotInfo:
        return await self.model(BotInfo, "GET", f"/{self.token}/bot")

    # --- sending ---------------------------------------------------------------------------
    async def send_text(
        self, text: str, *, chat_id: int | None = None, reply_to: int | None = None
    ) -> TranscriptMessage:
        body = {"user_id": self.user_id, "text": text, "reply_to_message_id": reply_to}
        return await self._send(chat_id, "text", json=body)

    async def send_command(
        self, command: str, args: str = "", *, chat_id: int | None = None
    ) -> TranscriptMessage:
        """Send ``/command args``; Telegram marks it with a bot_command entity."""
        text = "/" + command.removeprefix("/")
        return await self.send_text(f"{text} {args}".strip(), chat_id=chat_id)

    async def send_photo(
        self, image: bytes, *, caption: str | None = None, chat_id: int | None = None
    ) -> TranscriptMessage:
        """Send a picture as a photo: the bot gets Telegram's JPEG size ladder, largest last."""
        return await self._send(
            chat_id,
            "photo",
            data=self._form(caption=caption),
            files={"file": ("photo.jpg", image, "image/jpeg")},
        )

    async def send_document(
        self,
        data: bytes,
        file_name: str,
        *,
        mime_type: str | None = None,
        caption: str | None = None,
        chat_id: int | None = None,
    ) -> TranscriptMessage:
        return await self._send(
            chat_id,
            "document",
            data=self._form(caption=caption, mime_type=mime_type),
            files={"file": (file_name, data, mime_type or "application/octet-stream")},
        )

    async def send_album(
        self,
        items: Sequence[AlbumItem | bytes],
        *,
        caption: str | None = None,
        chat_id: int | None = None,
    ) -> list[TranscriptMessage]:
        """2–10 photos or documents sharing a media_group_id, one update each."""
        parts = [item if isinstance(item, AlbumItem) else AlbumItem(item) for item in items]
        await self._ensure_registered()
        target = chat_id if chat_id is not None else self.chat_id
        messages = await self.models(
            TranscriptMessage,
            "POST",
            f"/{self.token}/chats/{target}/album",
            data=self._form(caption=caption, kinds=json.dumps([p.kind for p in parts])),
            files=[
                ("files", (p.file_name, p.data, p.mime_type or "application/octet-stream")) for p in parts
            ],
        )
        self._last_sent[target] = messages[-1].message_id
        return messages

    async def send_sticker(self, emoji: str = "👍", *, chat_id: int | None = None) -> TranscriptMessage:
        return await self._send(chat_id, "sticker", json={"user_id": self.user_id, "emoji": emoji})

    async def press_button(
        self,
        message_id: int,
        *,
        text: str | None = None,
        data: str | None = None,
        index: int | None = None,
        forge: bool = False,
        chat_id: int | None = None,
    ) -> str:
        """Press an inline button (by its text, callback_data or flat index); returns the
        callback query id. ``forge=True`` sends ``data`` even if no button carries it."""
        await self._ensure_registered()
        target = chat_id if chat_id is not None else self.chat_id
        body = {
            "user_id": self.user_id,
            "message_id": message_id,
            "text": text,
            "data": data,
            "index": index,
            "forge": forge,
        }
        result = await self.model(
            PressButtonResult, "POST", f"/{self.token}/chats/{target}/callback", json=body
        )
        return result.callback_query_id

    async def callback_answer(self, callback_query_id: str, *, timeout: float = 5.0) -> CallbackAnswer:
        """The bot's answerCallbackQuery for a press, waiting up to ``timeout`` for it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = max(deadline - loop.time(), 0.0)
            answer = await self.model(
                CallbackAnswer,
                "GET",
                f"/{self.token}/callbacks/{callback_query_id}",
                params={"timeout": min(remaining, _LONG_POLL_SLICE)},
            )
            if answer.answered or loop.time() >= deadline:
                return answer

    async def pay_invoice(self, message_id: int, *, chat_id: int | None = None) -> PaymentOutcome:
        """Pay the bot's Stars invoice ``message_id``; returns once the checkout ended (the bot
        answered the pre-checkout query, or did not within Telegram's 10 s)."""
        await self._ensure_registered()
        target = chat_id if chat_id is not None else self.chat_id
        body = {"user_id": self.user_id, "message_id": message_id}
        return await self.model(PaymentOutcome, "POST", f"/{self.token}/chats/{target}/pay", json=body)

    async def block_bot(self) -> None:
        await self.request("POST", f"/{self.token}/users/{self.user_id}/block")

    async def unblock_bot(self) -> None:
        await self.request("POST", f"/{self.token}/users/{self.user_id}/unblock")

    async def create_group(self, title: str, *, member_ids: Sequence[int] = ()) -> int:
        """A supergroup (negative id) with this user, the given members and the bot."""
        await self._ensure_registered()
        members = sorted({self.user_id, *member_ids})
        group = await self.model(
            GroupInfo,
            "POST",
            f"/{self.token}/groups",
            json={"title": title, "member_ids": members},
        )
        return group.chat_id

    # --- reading ---------------------------------------------------------------------------
    async def transcript(
        self, chat_id: int | None = None, *, since: int = -1, timeout: float = 0.0
    ) -> Transcript:
        """The chat as the user sees it; with ``since``, wait until it changes past it."""
        target = chat_id if chat_id is not None else self.chat_id
        return await self.model(
            Transcript,
            "GET",
            f"/{self.token}/chats/{target}/transcript",
            params={"since": since, "timeout": timeout},
        )

    async def bot_messages(
        self, chat_id: int | None = None, *, include_deleted: bool = False
    ) -> list[TranscriptMessage]:
        transcript = await self.transcript(chat_id)
        return [m for m in transcript.messages if m.from_bot and (include_deleted or not m.deleted)]

    async def wait_for_message(
        self,
        chat_id: int | None = None,
        predicate: Predicate | None = None,
        timeout: float = 5.0,
        *,
        after: int = 0,
        include_deleted: bool = False,
    ) -> TranscriptMessage:
        """The first bot message (current state, edits applied) with id > ``after`` that
        satisfies ``predicate``; waits for new messages and edits until ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        since = -1
        while True:
            remaining = deadline - loop.time()
            transcript = await self.transcript(
                chat_id, since=since, timeout=min(max(remaining, 0.0), _LONG_POLL_SLICE)
            )
            for message in transcript.messages:
                if (
                    message.from_bot
                    and message.message_id > after
                    and (include_deleted or not message.deleted)
                    and (predicate is None or predicate(message))
                ):
                    return message
            if loop.time() >= deadline:
                raise TimeoutError(_timeout_report(transcript, timeout))
            since = transcript.version

    async def wait_for_reply(
        self, predicate: Predicate | None = None, timeout: float = 5.0, *, chat_id: int | None = None
    ) -> TranscriptMessage:
        """Like wait_for_message, counting only bot messages after this user's last one."""
        target = chat_id if chat_id is not None else self.chat_id
        return await self.wait_for_message(target, predicate, timeout, after=self._last_sent.get(target, 0))

    async def download(self, file_id: str) -> bytes:
        """The exact bytes of a file in this bot's storage (no Bot API size limit)."""
        return (await self.request("GET", f"/{self.token}/files/{file_id}")).content

    # --- helpers ---------------------------------------------------------------------------
    async def _ensure_registered(self) -> None:
        if not self._registered:
            await self.register()

    def _form(self, **fields: str | None) -> dict[str, str]:
        form = {"user_id": str(self.user_id)}
        form.update({key: value for key, value in fields.items() if value is not None})
        return form

    async def _send(self, chat_id: int | None, kind: str, **kwargs: Any) -> TranscriptMessage:
        await self._ensure_registered()
        target = chat_id if chat_id is not None else self.chat_id
        message = await self.model(
            TranscriptMessage, "POST", f"/{self.token}/chats/{target}/{kind}", **kwargs
        )
        self._last_sent[target] = message.message_id
        return message


class EmulatorControl(_Http):
    """Knobs and records for tests: faults, latency, rate limits, 429s, webhook attempts."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0) -> None:
        super().__init__(base_url, token, timeout)

    async def inject_fault(
        self,
        method: str,
        count: int = 1,
        status: int = 500,
        *,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        spec = FaultSpec(
            method=method,
            count=count,
            status=status,
            retry_after=retry_after,
            description=description,
        )
        await self.request("POST", f"/{self.token}/faults", json=spec.model_dump(mode="json"))

    async def set_latency(self, seconds: float, method: str | None = None) -> None:
        spec = LatencySpec(seconds=seconds, method=method)
        await self.request("PUT", f"/{self.token}/latency", json=spec.model_dump(mode="json"))

    async def clear_faults(self) -> None:
        await self.request("DELETE", f"/{self.token}/faults")

    async def rate_limit_hits(self) -> list[RateLimitHit]:
        return await self.models(RateLimitHit, "GET", f"/{self.token}/rate-limit-hits")

    async def clear_rate_limit_hits(self) -> None:
        await self.request("DELETE", f"/{self.token}/rate-limit-hits")

    async def rate_limits(self) -> RateLimitConfig:
        return await self.model(RateLimitConfig, "GET", f"/{self.token}/rate-limits")

    async def set_rate_limits(self, config: RateLimitConfig) -> None:
        await self.request("PUT", f"/{self.token}/rate-limits", json=config.model_dump(mode="json"))

    async def webhook_attempts(self) -> list[WebhookAttempt]:
        return await self.models(WebhookAttempt, "GET", f"/{self.token}/webhook-attempts")

    async def redeliver_payment(self, telegram_payment_charge_id: str) -> None:
        """Deliver a payment's successful_payment update once more, as a duplicate."""
        await self.request("POST", f"/{self.token}/payments/{telegram_payment_charge_id}/redeliver")

    async def requests(self) -> list[RequestRecord]:
        return await self.models(RequestRecord, "GET", f"/{self.token}/requests")


def _timeout_report(transcript: Transcript, timeout: float) -> str:
    recent = [
        f"#{m.message_id} {'bot' if m.from_bot else 'user'}: {m.content[:80]!r}"
        for m in transcript.messages[-5:]
    ]
    return f"no matching bot message within {timeout}s; last messages: {recent}"
