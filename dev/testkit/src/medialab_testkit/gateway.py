"""The gateway's conversations without Telegram, money or uploads: what the flow tests drive.

``build_dispatcher`` (the composition root's own) wires the real routers, middlewares and KV state;
only the launcher (which reserves money and publishes jobs) and the image intake (which downloads
from Telegram into the upload store) are replaced, by a recorder and a fake. Billing's price and
balance answers come over NATS from ``BillingResponder``, on billing's real subjects and models.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.base import StorageKey
from aiogram.methods import EditMessageText, SendMessage
from aiogram.types import (
    CallbackQuery,
    Chat,
    Document,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    PhotoSize,
    Update,
    User,
)
from gateway_bot.flows.intake import Upload, precheck
from gateway_bot.flows.launcher import Order
from medialab_contracts import subjects
from medialab_contracts.billing import BalanceRequest, BalanceView, EnsureUserRequest
from medialab_contracts.media import MediaRef, upload_name
from medialab_runtime.nats_conn import connect
from medialab_runtime.rpc import add_endpoint
from nats import micro
from nats.aio.client import Client
from nats.micro.service import Service
from pydantic import BaseModel

from medialab_testkit.telegram import RecordingSession


class RecordingLauncher:
    """Takes the order a flow would start; nothing is reserved or published."""

    def __init__(self) -> None:
        self.orders: list[Order] = []

    async def launch(self, bot: Bot, order: Order) -> None:
        self.orders.append(order)


class FakeIntake:
    """Stands in for the download and the upload store: Telegram's metadata is checked as production
    checks it (``precheck``), then the image is "stored" under the owner's upload name.

    ``hold(n)`` makes accepts wait until ``n`` of them are in progress: the parts of an album are then
    all announced before any is filled, as when Telegram delivers them together.
    """

    def __init__(self) -> None:
        self.sizes: dict[str, tuple[int, int]] = {}
        self.accepted: list[Upload] = []
        self._waiting = 0
        self._barrier: asyncio.Event | None = None
        self._needed = 0

    def hold(self, count: int) -> None:
        self._barrier, self._needed, self._waiting = asyncio.Event(), count, 0

    async def accept(self, bot: Bot, upload: Upload, owner: int, max_bytes: int) -> MediaRef:
        precheck(upload, max_bytes)
        if self._barrier is not None:
            self._waiting += 1
            if self._waiting >= self._needed:
                self._barrier.set()
            await asyncio.wait_for(self._barrier.wait(), timeout=30)
        self.accepted.append(upload)
        width, height = self.sizes[upload.file_id]
        return MediaRef(
            object_name=upload_name(owner),
            content_type=upload.mime_type or "image/jpeg",
            size_bytes=upload.file_size or 0,
            width=width,
            height=height,
            file_name=upload.file_name,
        )


class BillingResponder:
    """Answers ``billing.ensure_user`` and ``billing.balance`` as billing would, with its models, for a
    user whose available balance is ``available``; connected as billing's own NATS user."""

    def __init__(self, url: str, password: str, available: int = 3000) -> None:
        self._url = url
        self._password = password
        self.available = available
        self.requests: list[BaseModel] = []
        self._nc: Client | None = None
        self._service: Service | None = None

    def _view(self, user_id: int) -> BalanceView:
        return BalanceView(user_id=user_id, balance=self.available, reserved=0, available=self.available)

    async def _ensure_user(self, request: EnsureUserRequest) -> BalanceView:
        self.requests.append(request)
        return self._view(request.user_id)

    async def _balance(self, request: BalanceRequest) -> BalanceView:
        self.requests.append(request)
        return self._view(request.user_id)

    async def __aenter__(self) -> BillingResponder:
        self._nc = await connect(self._url, "billing", user="billing", password=self._password)
        self._service = await micro.add_service(
            self._nc, name="billing", version="0.0.0", queue_group="billing"
        )
        await add_endpoint(
            self._service, "billing", subjects.BILLING_ENSURE_USER, EnsureUserRequest, self._ensure_user
        )
        await add_endpoint(self._service, "billing", subjects.BILLING_BALANCE, BalanceRequest, self._balance)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._service is not None:
            await self._service.stop()
        if self._nc is not None:
            await self._nc.close()


class Conversation:
    """One user in their private chat with the bot: each call is one update fed to the dispatcher."""

    def __init__(
        self, dp: Dispatcher, bot: Bot, session: RecordingSession, intake: FakeIntake, user: User
    ) -> None:
        self.dp, self.bot, self.session, self.intake, self.user = dp, bot, session, intake, user
        self.chat = Chat(id=user.id, type="private")
        self._ids = itertools.count(1)

    def _message(self, **fields: Any) -> Message:
        return Message(
            message_id=next(self._ids), date=datetime.now(UTC), chat=self.chat, from_user=self.user, **fields
        )

    async def feed(self, update: Update) -> None:
        await self.dp.feed_update(self.bot, update)

    def _update(self, **event: Any) -> Update:
        return Update(update_id=next(self._ids), **event)

    async def send(self, text: str) -> None:
        entities = None
        if text.startswith("/"):
            entities = [MessageEntity(type="bot_command", offset=0, length=len(text.split()[0]))]
        await self.feed(self._update(message=self._message(text=text, entities=entities)))

    def photo_update(
        self,
        width: int = 1024,
        height: int = 768,
        *,
        caption: str | None = None,
        album: str | None = None,
        file_size: int = 200_000,
    ) -> Update:
        file_id = f"photo{len(self.intake.sizes) + 1}"
        self.intake.sizes[file_id] = (width, height)
        size = PhotoSize(
            file_id=file_id, file_unique_id=file_id, width=width, height=height, file_size=file_size
        )
        # Album ids are Telegram's per chat; prefixed with the bot's, so tests sharing a server never meet.
        group = f"{self.bot.id}-{album}" if album else None
        message = self._message(photo=[size], caption=caption, media_group_id=group)
        return self._update(message=message)

    async def photo(self, width: int = 1024, height: int = 768, **fields: Any) -> None:
        await self.feed(self.photo_update(width, height, **fields))

    async def document(self, mime_type: str, file_name: str, width: int = 1024, height: int = 768) -> None:
        file_id = f"doc{len(self.intake.sizes) + 1}"
        self.intake.sizes[file_id] = (width, height)
        doc = Document(
            file_id=file_id, file_unique_id=file_id, mime_type=mime_type, file_name=file_name, file_size=9000
        )
        await self.feed(self._update(message=self._message(document=doc)))

    async def press(self, data: str) -> None:
        """A button of the last message the bot sent (Telegram shows it as message 1 of the chat)."""
        shown = Message(message_id=1, date=datetime.now(UTC), chat=self.chat, text="…")
        query = CallbackQuery(
            id=f"q{next(self._ids)}", from_user=self.user, chat_instance="c", data=data, message=shown
        )
        await self.feed(self._update(callback_query=query))

    def last(self) -> SendMessage:
        """The last message the bot sent."""
        return self.session.sent()[-1]

    def step(self) -> EditMessageText:
        """The last step shown in place of a pressed keyboard."""
        edits = [m for m in self.session.requests if isinstance(m, EditMessageText)]
        return edits[-1]

    async def state(self) -> str | None:
        key = StorageKey(bot_id=self.bot.id, chat_id=self.chat.id, user_id=self.user.id)
        return await self.dp.fsm.storage.get_state(key)


def buttons(markup: Any) -> dict[str, str]:
    """An inline keyboard's buttons: label → callback data, in the order shown."""
    assert isinstance(markup, InlineKeyboardMarkup)
    return {b.text: b.callback_data or "" for row in markup.inline_keyboard for b in row}
