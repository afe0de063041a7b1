"""In-memory world of the emulator: users, bots, chats, messages, files."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from .config import EmulatorConfig
from .errors import bad_request, forbidden
from .faults import Faults
from .limits import RateLimiter
from .notify import Signal
from .objects import (
    BotCommand,
    CallbackQuery,
    Chat,
    Document,
    Message,
    PhotoSize,
    PreCheckoutQuery,
    SuccessfulPayment,
    User,
)
from .schemas import (
    CallbackAnswer,
    ChatActionRecord,
    DocumentInfo,
    MessageVersion,
    PhotoInfo,
    RateLimitHit,
    RequestRecord,
    StickerInfo,
    TranscriptMessage,
    UserProfile,
    WebhookAttempt,
)
from .updates import UpdateQueue

# Prefixes real file ids start with, by kind (they encode the file type).
_FILE_ID_PREFIX = {
    "photos": "AgACAgIAAxkBAAI",
    "documents": "BQACAgIAAxkBAAI",
    "stickers": "CAACAgIAAxkBAAI",
    "thumbnails": "AAMCAgADGQEAAg",
}
_UNIQUE_ID_PREFIX = {"photos": "AQAD", "documents": "AgAD", "stickers": "AgAD", "thumbnails": "AQAD"}
_EXTENSION = {"photos": "jpg", "stickers": "webp", "thumbnails": "jpg"}


def unix_now() -> int:
    return int(time.time())


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str
    data: bytes
    file_path: str

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class MessageRecord:
    message: Message
    from_bot: bool
    markup: dict[str, Any] | None = None  # as sent, reply keyboards included
    deleted: bool = False
    history: list[MessageVersion] = field(default_factory=list)

    def version(self) -> MessageVersion:
        message = self.message
        return MessageVersion(
            edit_date=message.edit_date,
            text=message.text,
            entities=[e.to_api() for e in message.entities or []],
            caption=message.caption,
            caption_entities=[e.to_api() for e in message.caption_entities or []],
            reply_markup=self.markup,
        )

    def to_transcript(self) -> TranscriptMessage:
        message = self.message
        version = self.version()
        sender = message.from_
        return TranscriptMessage(
            message_id=message.message_id,
            chat_id=message.chat.id,
            from_bot=self.from_bot,
            sender_id=sender.id if sender else 0,
            date=message.date,
            edit_date=message.edit_date,
            text=version.text,
            entities=version.entities,
            caption=version.caption,
            caption_entities=version.caption_entities,
            reply_markup=self.markup,
            photo=[PhotoInfo.model_validate(p.to_api()) for p in message.photo or []],
            document=DocumentInfo.model_validate(message.document.to_api()) if message.document else None,
            sticker=StickerInfo.model_validate(message.sticker.to_api()) if message.sticker else None,
            media_group_id=message.media_group_id,
            invoice=message.invoice.to_api() if message.invoice else None,
            successful_payment=message.successful_payment.to_api() if message.successful_payment else None,
            refunded_payment=message.refunded_payment.to_api() if message.refunded_payment else None,
            reply_to_message_id=message.reply_to_message.message_id if message.reply_to_message else None,
            deleted=self.deleted,
            edits=list(self.history),
        )


@dataclass
class ChatState:
    chat: Chat
    members: set[int] = field(default_factory=set)
    messages: dict[int, MessageRecord] = field(default_factory=dict)
    reply_keyboard: dict[str, Any] | None = None
    actions: list[ChatActionRecord] = field(default_factory=list)
    signal: Signal = field(default_factory=Signal)
    started: bool = False  # private chats: the user has written to the bot
    blocked: bool = False  # private chats: the user has blocked the bot
    _next_message_id: int = 1

    @property
    def id(self) -> int:
        return self.chat.id

    def allocate_message_id(self) -> int:
        message_id = self._next_message_id
        self._next_message_id += 1
        return message_id

    def touch(self) -> None:
        self.signal.bump()

    def live_message(self, message_id: int) -> MessageRecord | None:
        record = self.messages.get(message_id)
        return None if record is None or record.deleted else record


@dataclass
class CallbackRecord:
    query: CallbackQuery
    chat_id: int
    answer: CallbackAnswer
    signal: Signal = field(default_factory=Signal)


@dataclass
class PreCheckoutRecord:
    """A checkout waiting for the bot's answerPreCheckoutQuery."""

    query: PreCheckoutQuery
    chat_id: int
    answered: bool = False
    ok: bool = False
    error_message: str | None = None
    signal: Signal = field(default_factory=Signal)


@dataclass
class StarPayment:
    """A completed Stars payment, kept for refundStarPayment and for re-delivering it (a fault)."""

    user_id: int
    chat_id: int
    payment: SuccessfulPayment
    refunded: bool = False


@dataclass
class WebhookSettings:
    url: str
    secret_token: str | None
    max_connections: int
    allowed_updates: list[str] | None
    ip_address: str | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None


class BotState:
    """Everything one bot token sees: its chats, files, updates and webhook."""

    def __init__(self, token: str, user: User, world: EmulatorState) -> None:
        self.token = token
        self.user = user
        self.world = world
        self.chats: dict[int, ChatState] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        # Re-sending by file_id reuses the whole object, as Telegram does.
        self.photo_sets: dict[str, list[PhotoSize]] = {}
        self.documents: dict[str, Document] = {}
        self.updates = UpdateQueue()
        self.poll_generation = 0
        self.webhook: WebhookSettings | None = None
        self.webhook_attempts: list[WebhookAttempt] = []
        self.commands: dict[str, list[BotCommand]] = {}
        self.callbacks: dict[str, CallbackRecord] = {}
        self.pre_checkouts: dict[str, PreCheckoutRecord] = {}
        self.payments: dict[str, StarPayment] = {}  # by telegram_payment_charge_id
        # Invoice payloads by (chat id, message id): Telegram keeps them from the user's view.
        self.invoice_payloads: dict[tuple[int, int], str] = {}
        self.faults = Faults()
        self.rate_limiter = RateLimiter(world.config.rate_limits)
        self.rate_limit_hits: list[RateLimitHit] = []
        self.requests: list[RequestRecord] = []
        self._file_counter = itertools.count()

    @property
    def id(self) -> int:
        return self.user.id

    # --- files -----------------------------------------------------------------------------
    def store_file(self, kind: str, data: bytes, file_name: str | None = None) -> StoredFile:
        number = next(self._file_counter)
        extension = _EXTENSION.get(kind) or _extension_of(file_name)
        path = f"{kind}/file_{number}.{extension}" if extension else f"{kind}/file_{number}"
        stored = StoredFile(
            file_id=_FILE_ID_PREFIX[kind] + secrets.token_urlsafe(48),
            file_unique_id=_UNIQUE_ID_PREFIX[kind] + secrets.token_urlsafe(9),
            kind=kind,
            data=data,
            file_path=path,
        )
        self.files[stored.file_id] = stored
        self.files_by_path[path] = stored
        return stored

    # --- chats -----------------------------------------------------------------------------
    def private_chat(self, user: User) -> ChatState:
        chat = self.chats.get(user.id)
        if chat is None:
            chat = ChatState(
                chat=Chat(
                    id=user.id,
                    type="private",
                    first_name=user.first_name,
                    last_name=user.last_name,
                    username=user.username,
                ),
                members={user.id},
            )
            self.chats[user.id] = chat
        return chat

    def create_group(self, title: str, member_ids: list[int]) -> ChatState:
        chat_id = self.world.next_group_id()
        chat = ChatState(chat=Chat(id=chat_id, type="supergroup", title=title), members=set(member_ids))
        self.chats[chat_id] = chat
        return chat

    def chat_for_sending(self, chat_id: int) -> ChatState:
        """The chat the bot may post to, or Telegram's error for why it may not."""
        chat = self.chats.get(chat_id)
        if chat is None:
            if chat_id in self.world.users:
                raise forbidden("bot can't initiate conversation with a user")
            raise bad_request("chat not found")
        if chat.chat.type == "private":
            if chat.blocked:
                raise forbidden("bot was blocked by the user")
            if not chat.started:
                raise forbidden("bot can't initiate conversation with a user")
        return chat

    def chat_for_user(self, chat_id: int, user_id: int) -> ChatState:
        """The chat a user writes into: their private chat or a group they belong to."""
        user = self.world.user(user_id)
        if chat_id == user_id:
            chat = self.private_chat(user)
            chat.started = True
            return chat
        group = self.chats.get(chat_id)
        if group is None or user_id not in group.members:
            raise LookupError(f"user {user_id} is not in chat {chat_id}")
        return group

    def add_message(
        self,
        chat: ChatState,
        *,
        sender: User,
        from_bot: bool,
        markup: dict[str, Any] | None = None,
        reply_to: MessageRecord | None = None,
        **content: Any,
    ) -> MessageRecord:
        message = Message(
            message_id=chat.allocate_message_id(),
            from_=sender,
            date=unix_now(),
            chat=chat.chat,
            reply_to_message=reply_to.message.model_copy(update={"reply_to_message": None})
            if reply_to
            else None,
            reply_markup=markup if markup and "inline_keyboard" in markup else None,
            **content,
        )
        record = MessageRecord(message=message, from_bot=from_bot, markup=markup)
        chat.messages[message.message_id] = record
        if from_bot and markup is not None and "inline_keyboard" not in markup:
            chat.reply_keyboard = markup if "keyboard" in markup else None
        chat.touch()
        return record

    def record_callback(self, query: CallbackQuery, chat_id: int) -> CallbackRecord:
        record = CallbackRecord(
            query=query,
            chat_id=chat_id,
            answer=CallbackAnswer(callback_query_id=query.id, answered=False),
        )
        self.callbacks[query.id] = record
        return record


class EmulatorState:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.users: dict[int, User] = {}
        self.bots: dict[str, BotState] = {}
        self.closing = asyncio.Event()
        self._group_ids = itertools.count(1)

    def add_bot(self, token: str) -> BotState:
        """Accept a bot token ("<digits>:<secret>"); the digits are the bot's user id."""
        raw_id, sep, secret = token.partition(":")
        if not sep or not raw_id.isdigit() or not secret:
            raise ValueError("a bot token looks like '<digits>:<secret>'")
        bot_id = int(raw_id)
        user = User(
            id=bot_id,
            is_bot=True,
            first_name="MediaLab Sandbox",
            username=f"medialab_sandbox_{bot_id}_bot",
            can_join_groups=True,
            can_read_all_group_messages=False,
            supports_inline_queries=False,
        )
        bot = BotState(token, user, self)
        self.bots[token] = bot
        return bot

    def register_user(self, profile: UserProfile) -> User:
        user = User(
            id=profile.user_id,
            is_bot=False,
            first_name=profile.first_name,
            last_name=profile.last_name,
            username=profile.username,
            language_code=profile.language_code,
        )
        self.users[user.id] = user
        return user

    def user(self, user_id: int) -> User:
        user = self.users.get(user_id)
        if user is None:
            user = self.register_user(UserProfile(user_id=user_id))
        return user

    def next_group_id(self) -> int:
        return -(1_000_000_000_000 + next(self._group_ids))


def _extension_of(file_name: str | None) -> str | None:
    if file_name and "." in file_name:
        extension = file_name.rsplit(".", 1)[1]
        if extension.isalnum() and len(extension) <= 10:
            return extension.lower()
    return None
