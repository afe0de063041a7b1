"""Telegram Bot API objects, serialised exactly as Telegram sends them (no null fields)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TelegramObject(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    def to_api(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class User(TelegramObject):
    id: int
    is_bot: bool
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    can_join_groups: bool | None = None
    can_read_all_group_messages: bool | None = None
    supports_inline_queries: bool | None = None


class Chat(TelegramObject):
    id: int
    type: Literal["private", "group", "supergroup", "channel"]
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class MessageEntity(TelegramObject):
    type: str
    offset: int = Field(ge=0)
    length: int = Field(gt=0)
    url: str | None = None
    language: str | None = None
    custom_emoji_id: str | None = None


class PhotoSize(TelegramObject):
    file_id: str
    file_unique_id: str
    width: int
    height: int
    file_size: int | None = None


class Document(TelegramObject):
    file_id: str
    file_unique_id: str
    thumbnail: PhotoSize | None = None
    file_name: str | None = None
    mime_type: str | None = None
    file_size: int | None = None


class Sticker(TelegramObject):
    file_id: str
    file_unique_id: str
    type: str = "regular"
    width: int
    height: int
    is_animated: bool = False
    is_video: bool = False
    emoji: str | None = None
    set_name: str | None = None
    file_size: int | None = None


class Invoice(TelegramObject):
    title: str
    description: str
    start_parameter: str
    currency: str
    total_amount: int


class SuccessfulPayment(TelegramObject):
    currency: str
    total_amount: int
    invoice_payload: str
    telegram_payment_charge_id: str
    provider_payment_charge_id: str


class RefundedPayment(TelegramObject):
    currency: str
    total_amount: int
    invoice_payload: str
    telegram_payment_charge_id: str


class Message(TelegramObject):
    message_id: int
    from_: User | None = Field(default=None, alias="from")
    date: int
    chat: Chat
    edit_date: int | None = None
    media_group_id: str | None = None
    reply_to_message: Message | None = None
    text: str | None = None
    entities: list[MessageEntity] | None = None
    caption: str | None = None
    caption_entities: list[MessageEntity] | None = None
    photo: list[PhotoSize] | None = None
    document: Document | None = None
    sticker: Sticker | None = None
    invoice: Invoice | None = None
    successful_payment: SuccessfulPayment | None = None
    refunded_payment: RefundedPayment | None = None
    # Telegram only ever echoes inline keyboards back in Message objects.
    reply_markup: dict[str, Any] | None = None


class CallbackQuery(TelegramObject):
    id: str
    from_: User = Field(alias="from")
    message: Message | None = None
    chat_instance: str
    data: str | None = None


class PreCheckoutQuery(TelegramObject):
    id: str
    from_: User = Field(alias="from")
    currency: str
    total_amount: int
    invoice_payload: str


class ChatMember(TelegramObject):
    user: User
    status: str
    until_date: int | None = None  # required by Telegram for "kicked"


class ChatMemberUpdated(TelegramObject):
    chat: Chat
    from_: User = Field(alias="from")
    date: int
    old_chat_member: ChatMember
    new_chat_member: ChatMember


class Update(TelegramObject):
    update_id: int
    message: Message | None = None
    edited_message: Message | None = None
    callback_query: CallbackQuery | None = None
    my_chat_member: ChatMemberUpdated | None = None
    pre_checkout_query: PreCheckoutQuery | None = None

    @property
    def kind(self) -> str:
        for name in ("message", "edited_message", "callback_query", "my_chat_member", "pre_checkout_query"):
            if getattr(self, name) is not None:
                return name
        raise ValueError("update carries no payload")


class File(TelegramObject):
    file_id: str
    file_unique_id: str
    file_size: int | None = None
    file_path: str | None = None


class BotCommand(TelegramObject):
    command: str
    description: str


class WebhookInfo(TelegramObject):
    url: str
    has_custom_certificate: bool = False
    pending_update_count: int
    ip_address: str | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None
    max_connections: int | None = None
    allowed_updates: list[str] | None = None
