"""Models of the emulator's own HTTP API (user side and control), shared by server and client."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class UserProfile(BaseModel):
    user_id: int = Field(gt=0)
    first_name: str = "Тест"
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "ru"


class BotInfo(BaseModel):
    id: int
    username: str
    first_name: str


class PhotoInfo(BaseModel):
    file_id: str
    file_unique_id: str
    width: int
    height: int
    file_size: int


class DocumentInfo(BaseModel):
    file_id: str
    file_unique_id: str
    file_name: str | None = None
    mime_type: str | None = None
    file_size: int


class StickerInfo(BaseModel):
    file_id: str
    file_unique_id: str
    emoji: str | None = None
    width: int
    height: int


class InlineButton(BaseModel):
    text: str
    row: int
    column: int
    callback_data: str | None = None
    url: str | None = None
    pay: bool = False


class MessageVersion(BaseModel):
    """One earlier state of an edited message."""

    edit_date: int | None = None
    text: str | None = None
    entities: list[dict[str, Any]] = Field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = Field(default_factory=list)
    reply_markup: dict[str, Any] | None = None


class TranscriptMessage(BaseModel):
    """A message as a user sees it, with its history and files."""

    message_id: int
    chat_id: int
    from_bot: bool
    sender_id: int
    date: int
    edit_date: int | None = None
    text: str | None = None
    entities: list[dict[str, Any]] = Field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = Field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    photo: list[PhotoInfo] = Field(default_factory=list)
    document: DocumentInfo | None = None
    sticker: StickerInfo | None = None
    media_group_id: str | None = None
    reply_to_message_id: int | None = None
    deleted: bool = False
    edits: list[MessageVersion] = Field(default_factory=list)
    # Telegram Stars: an invoice the bot sent, a payment the user made, a refund of it.
    invoice: dict[str, Any] | None = None
    successful_payment: dict[str, Any] | None = None
    refunded_payment: dict[str, Any] | None = None

    @property
    def content(self) -> str:
        """Text or caption, whichever the message has; a payment message is described."""
        if self.invoice is not None:
            invoice = self.invoice
            return f"🧾 {invoice['title']}: {invoice['description']} (⭐ {invoice['total_amount']})"
        if self.successful_payment is not None:
            return f"⭐ paid {self.successful_payment['total_amount']} Stars"
        if self.refunded_payment is not None:
            return f"⭐ refunded {self.refunded_payment['total_amount']} Stars"
        return self.text or self.caption or ""

    @property
    def largest_photo(self) -> PhotoInfo | None:
        return self.photo[-1] if self.photo else None

    @property
    def inline_buttons(self) -> list[InlineButton]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [
            InlineButton(
                text=button["text"],
                row=r,
                column=c,
                callback_data=button.get("callback_data"),
                url=button.get("url"),
                pay=bool(button.get("pay")),
            )
            for r, row in enumerate(rows)
            for c, button in enumerate(row)
        ]

    def button(self, text: str) -> InlineButton:
        """The first inline button whose text contains ``text``."""
        for button in self.inline_buttons:
            if text in button.text:
                return button
        raise LookupError(f"message {self.message_id} has no inline button with {text!r}")


class ChatActionRecord(BaseModel):
    action: str
    at: float
    after_message_id: int = 0  # the chat's latest message when the action was sent


class Transcript(BaseModel):
    chat_id: int
    version: int
    messages: list[TranscriptMessage]
    reply_keyboard: dict[str, Any] | None = None
    actions: list[ChatActionRecord] = Field(default_factory=list)


class CallbackAnswer(BaseModel):
    callback_query_id: str
    answered: bool
    text: str | None = None
    show_alert: bool = False
    url: str | None = None
    cache_time: int | None = None


class RateLimitHit(BaseModel):
    """A 429 the emulator sent to a bot."""

    at: float
    method: str
    chat_id: int | None = None
    scope: Literal["chat", "group", "global", "injected"]
    retry_after: int


class WebhookAttempt(BaseModel):
    at: float
    update_id: int
    ok: bool
    status_code: int | None = None
    error: str | None = None


class RequestRecord(BaseModel):
    """One Bot API call as the emulator answered it."""

    at: float
    method: str
    chat_id: int | None = None
    status_code: int
    description: str | None = None
    # Multipart file parts the call carried (new bytes uploaded); empty when files went by file_id or URL.
    uploaded_files: list[str] = Field(default_factory=list)


class FaultSpec(BaseModel):
    method: str = Field(min_length=1, description="Bot API method name, or '*' for any")
    count: int = Field(default=1, ge=1)
    status: int = Field(default=500, ge=400, le=599)
    retry_after: int | None = Field(default=None, ge=1)
    description: str | None = None


class LatencySpec(BaseModel):
    seconds: float = Field(ge=0)
    method: str | None = None


class SendTextRequest(BaseModel):
    user_id: int
    text: str = Field(min_length=1)
    reply_to_message_id: int | None = None


class StickerRequest(BaseModel):
    user_id: int
    emoji: str = "👍"


class PressButtonRequest(BaseModel):
    user_id: int
    message_id: int
    text: str | None = None
    data: str | None = None
    index: int | None = Field(default=None, ge=0)
    forge: bool = False


class PayInvoiceRequest(BaseModel):
    user_id: int
    message_id: int  # the bot's invoice message


class PaymentOutcome(BaseModel):
    """How a checkout ended: the bot said yes (paid), no (declined) or nothing in time (timeout)."""

    status: Literal["paid", "declined", "timeout"]
    error_message: str | None = None  # the bot's reason, shown to the user on "declined"
    telegram_payment_charge_id: str | None = None
    total_amount: int
    message_id: int | None = None  # the successful_payment service message


class PressButtonResult(BaseModel):
    callback_query_id: str


class GroupRequest(BaseModel):
    title: str = Field(min_length=1)
    member_ids: list[int] = Field(default_factory=list)


class GroupInfo(BaseModel):
    chat_id: int
    title: str
