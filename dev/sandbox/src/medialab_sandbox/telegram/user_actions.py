"""What users do: write, send media, press buttons. Each action queues a real update."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from .files import Upload, build_document, build_photo
from .formatting import command_entities
from .media import sticker_image
from .objects import (
    CallbackQuery,
    ChatMember,
    ChatMemberUpdated,
    MessageEntity,
    PreCheckoutQuery,
    Sticker,
    SuccessfulPayment,
    User,
)
from .schemas import PaymentOutcome, PressButtonRequest
from .state import (
    BotState,
    CallbackRecord,
    ChatState,
    MessageRecord,
    PreCheckoutRecord,
    StarPayment,
    unix_now,
)


@dataclass(frozen=True)
class AlbumPart:
    kind: str  # "photo" | "document"
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None


def _chat(bot: BotState, chat_id: int, user_id: int) -> ChatState:
    """The chat a user writes into; writing to a bot you blocked unblocks it, as in Telegram."""
    chat = bot.chat_for_user(chat_id, user_id)
    if chat.blocked:
        set_blocked(bot, user_id, False)
    return chat


def _post(bot: BotState, chat: ChatState, user: User, **content: Any) -> MessageRecord:
    record = bot.add_message(chat, sender=user, from_bot=False, **content)
    bot.updates.push(message=record.message)
    return record


def send_text(
    bot: BotState, chat_id: int, user_id: int, text: str, reply_to_message_id: int | None = None
) -> MessageRecord:
    chat = _chat(bot, chat_id, user_id)
    reply_to = chat.live_message(reply_to_message_id) if reply_to_message_id else None
    entities: list[MessageEntity] = command_entities(text)
    return _post(
        bot,
        chat,
        bot.world.user(user_id),
        text=text,
        entities=entities or None,
        reply_to=reply_to,
    )


async def send_photo(
    bot: BotState, chat_id: int, user_id: int, data: bytes, caption: str | None = None
) -> MessageRecord:
    chat = _chat(bot, chat_id, user_id)
    sizes = await build_photo(bot, Upload(data, None), max_size=None)
    return _post(bot, chat, bot.world.user(user_id), photo=sizes, caption=caption or None)


async def send_document(
    bot: BotState,
    chat_id: int,
    user_id: int,
    data: bytes,
    file_name: str,
    *,
    mime_type: str | None = None,
    caption: str | None = None,
) -> MessageRecord:
    chat = _chat(bot, chat_id, user_id)
    document = await build_document(bot, Upload(data, file_name), None, mime_type=mime_type)
    return _post(bot, chat, bot.world.user(user_id), document=document, caption=caption or None)


async def send_album(
    bot: BotState,
    chat_id: int,
    user_id: int,
    parts: list[AlbumPart],
    caption: str | None = None,
) -> list[MessageRecord]:
    """2–10 items sharing a media_group_id, delivered as separate updates like Telegram."""
    if not 2 <= len(parts) <= 10:
        raise ValueError("an album has 2-10 items")
    chat = _chat(bot, chat_id, user_id)
    user = bot.world.user(user_id)
    contents: list[dict[str, Any]] = []
    for part in parts:
        if part.kind == "photo":
            contents.append({"photo": await build_photo(bot, Upload(part.data, None), None)})
        elif part.kind == "document":
            document = await build_document(
                bot, Upload(part.data, part.file_name), None, mime_type=part.mime_type
            )
            contents.append({"document": document})
        else:
            raise ValueError(f"album items are photos or documents, not {part.kind!r}")
    group_id = str(secrets.randbits(62))
    # Telegram puts an album's caption on its first item.
    contents[0]["caption"] = caption or None
    return [_post(bot, chat, user, media_group_id=group_id, **content) for content in contents]


def send_sticker(bot: BotState, chat_id: int, user_id: int, emoji: str) -> MessageRecord:
    chat = _chat(bot, chat_id, user_id)
    image = sticker_image(emoji)
    stored = bot.store_file("stickers", image.data)
    sticker = Sticker(
        file_id=stored.file_id,
        file_unique_id=stored.file_unique_id,
        width=image.width,
        height=image.height,
        emoji=emoji,
        file_size=stored.size,
    )
    return _post(bot, chat, bot.world.user(user_id), sticker=sticker)


def press_button(bot: BotState, chat_id: int, request: PressButtonRequest) -> CallbackRecord:
    chat = _chat(bot, chat_id, request.user_id)
    record = chat.live_message(request.message_id)
    if record is None:
        raise LookupError(f"message {request.message_id} not found in chat {chat_id}")
    data = _callback_data(record, request)
    query = CallbackQuery(
        id=str(secrets.randbits(63)),
        from_=bot.world.user(request.user_id),
        message=record.message,
        chat_instance=str(-(hash((bot.id, chat.id)) % 10**19)),
        data=data,
    )
    callback = bot.record_callback(query, chat.id)
    bot.updates.push(callback_query=query)
    return callback


def _callback_data(record: MessageRecord, request: PressButtonRequest) -> str:
    rows = (record.markup or {}).get("inline_keyboard", [])
    buttons = [button for row in rows for button in row]
    if request.data is not None:
        if request.forge or any(b.get("callback_data") == request.data for b in buttons):
            return request.data
        raise ValueError(f"no button carries callback_data {request.data!r}")
    if request.index is not None:
        if request.index >= len(buttons):
            raise ValueError(f"the message has {len(buttons)} inline buttons")
        chosen = buttons[request.index]
    elif request.text is not None:
        matches = [b for b in buttons if b["text"] == request.text] or [
            b for b in buttons if request.text in b["text"]
        ]
        if not matches:
            raise ValueError(f"no inline button with text {request.text!r}")
        chosen = matches[0]
    else:
        raise ValueError("say which button: text, data or index")
    if "callback_data" not in chosen:
        raise ValueError(f"button {chosen['text']!r} is not a callback button")
    return str(chosen["callback_data"])


async def pay_invoice(bot: BotState, chat_id: int, user_id: int, message_id: int) -> PaymentOutcome:
    """The user pays the bot's Stars invoice: a pre_checkout_query goes to the bot, and only an
    ok=true answer within the timeout turns into a successful_payment service message."""
    chat = _chat(bot, chat_id, user_id)
    record = chat.live_message(message_id)
    if record is None or not record.from_bot or record.message.invoice is None:
        raise LookupError(f"no invoice message {message_id} in chat {chat_id}")
    invoice = record.message.invoice
    payload = bot.invoice_payloads[(chat.id, message_id)]
    query = PreCheckoutQuery(
        id=str(secrets.randbits(63)),
        from_=bot.world.user(user_id),
        currency=invoice.currency,
        total_amount=invoice.total_amount,
        invoice_payload=payload,
    )
    checkout = PreCheckoutRecord(query=query, chat_id=chat.id)
    bot.pre_checkouts[query.id] = checkout
    bot.updates.push(pre_checkout_query=query)
    timeout = bot.world.config.pre_checkout_timeout_s
    await checkout.signal.wait_past(0, timeout, abort=bot.world.closing)
    if not checkout.answered:
        checkout.answered = True  # a late answer gets Telegram's "query is too old"
        return PaymentOutcome(status="timeout", total_amount=invoice.total_amount)
    if not checkout.ok:
        return PaymentOutcome(
            status="declined", error_message=checkout.error_message, total_amount=invoice.total_amount
        )
    payment = SuccessfulPayment(
        currency=invoice.currency,
        total_amount=invoice.total_amount,
        invoice_payload=payload,
        # Shaped like Telegram's Stars charge ids; Stars payments have no provider charge id of
        # their own, and Telegram sends an empty one.
        telegram_payment_charge_id="stx" + secrets.token_urlsafe(48),
        provider_payment_charge_id="",
    )
    bot.payments[payment.telegram_payment_charge_id] = StarPayment(
        user_id=user_id, chat_id=chat.id, payment=payment
    )
    sent = _post(bot, chat, bot.world.user(user_id), successful_payment=payment)
    return PaymentOutcome(
        status="paid",
        telegram_payment_charge_id=payment.telegram_payment_charge_id,
        total_amount=invoice.total_amount,
        message_id=sent.message.message_id,
    )


def redeliver_payment(bot: BotState, charge_id: str) -> None:
    """A fault: the successful_payment update arrives once more (a duplicate delivery)."""
    stored = bot.payments.get(charge_id)
    if stored is None:
        raise LookupError(f"no payment {charge_id}")
    messages = bot.chats[stored.chat_id].messages.values()
    record = next((r for r in messages if r.message.successful_payment == stored.payment), None)
    if record is None:
        raise LookupError(f"the message of payment {charge_id} is gone")
    bot.updates.push(message=record.message)


def create_group(bot: BotState, title: str, member_ids: list[int]) -> ChatState:
    for user_id in member_ids:
        bot.world.user(user_id)
    return bot.create_group(title, member_ids)


def set_blocked(bot: BotState, user_id: int, blocked: bool) -> None:
    """Block or unblock the bot; Telegram tells the bot with a my_chat_member update."""
    user = bot.world.user(user_id)
    chat = bot.private_chat(user)
    if chat.blocked == blocked:
        return
    chat.blocked = blocked
    old, new = ("member", "kicked") if blocked else ("kicked", "member")
    bot.updates.push(
        my_chat_member=ChatMemberUpdated(
            chat=chat.chat,
            from_=user,
            date=unix_now(),
            old_chat_member=_member(bot.user, old),
            new_chat_member=_member(bot.user, new),
        )
    )
    chat.touch()


def _member(user: User, status: str) -> ChatMember:
    return ChatMember(user=user, status=status, until_date=0 if status == "kicked" else None)
