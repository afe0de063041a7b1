"""What a Bot API method handler gets: the bot, its parameters, and shared helpers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .errors import bad_request, too_many_requests
from .params import Params
from .schemas import RateLimitHit
from .state import BotState, ChatState, EmulatorState, MessageRecord
from .webhook import WebhookManager


@dataclass(frozen=True)
class Described:
    """A result that Telegram sends with a human-readable description beside it."""

    result: Any
    description: str


@dataclass
class MethodContext:
    method: str
    bot: BotState
    params: Params
    world: EmulatorState
    webhooks: WebhookManager

    def chat_id(self) -> int:
        value = self.params.raw("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        return _parse_chat_id(value)

    def target_chat(self) -> ChatState:
        return self.bot.chat_for_sending(self.chat_id())

    def known_chat(self) -> ChatState:
        """A chat for edits and deletes, which Telegram allows even after a block."""
        chat = self.bot.chats.get(self.chat_id())
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def message_id(self) -> int:
        message_id = self.params.integer("message_id", "message identifier is not specified")
        if message_id is None:
            if self.params.raw("inline_message_id"):
                raise bad_request("MESSAGE_ID_INVALID")
            raise bad_request("message identifier is not specified")
        return message_id

    def reply_target(self, chat: ChatState) -> MessageRecord | None:
        """The message this one replies to (reply_parameters or legacy reply_to_message_id)."""
        reply = self.params.json("reply_parameters", "can't parse reply parameters JSON object")
        if isinstance(reply, dict):
            message_id, allow_missing = (
                reply.get("message_id"),
                bool(reply.get("allow_sending_without_reply")),
            )
        else:
            message_id = self.params.integer("reply_to_message_id", "message to be replied not found")
            allow_missing = self.params.flag("allow_sending_without_reply")
        if message_id is None:
            return None
        record = chat.live_message(int(message_id))
        if record is None and not allow_missing:
            raise bad_request("message to be replied not found")
        return record

    def charge(self, chat_id: int, *, global_cost: int = 1) -> None:
        """Count a message-producing call against flood control; 429 when over the limit."""
        rejection = self.bot.rate_limiter.charge(chat_id, global_cost=global_cost)
        if rejection is None:
            return
        self.bot.rate_limit_hits.append(
            RateLimitHit(
                at=time.time(),
                method=self.method,
                chat_id=chat_id,
                scope=rejection.scope,
                retry_after=rejection.retry_after,
            )
        )
        raise too_many_requests(rejection.retry_after)


Handler = Callable[[MethodContext], Awaitable[Any]]


class MethodTable(dict[str, Handler]):
    """Bot API handlers by lower-cased method name (Telegram matches names case-insensitively)."""

    def register(self, name: str) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            self[name.lower()] = handler
            return handler

        return add


def _parse_chat_id(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.removeprefix("-").isdigit():
        return int(value)
    raise bad_request("chat not found")
