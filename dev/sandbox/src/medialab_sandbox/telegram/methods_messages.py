"""Bot API methods that create, edit and delete messages."""

from __future__ import annotations

import secrets
from typing import Any, Literal

from .config import MAX_CAPTION_LENGTH, MAX_MEDIA_GROUP, MAX_TEXT_LENGTH, MIN_MEDIA_GROUP
from .context import MethodContext, MethodTable
from .errors import MESSAGE_NOT_MODIFIED, bad_request
from .files import InputSource, build_document, build_photo, field_value, resolve_input
from .formatting import FormattedText, format_text
from .markup import parse_reply_markup
from .state import ChatState, MessageRecord, unix_now

METHODS = MethodTable()
MediaKind = Literal["photo", "document"]


def _text(ctx: MethodContext) -> FormattedText:
    params = ctx.params
    text = format_text(params.text("text"), params.text("parse_mode"), params.raw("entities"))
    if not text.text:
        raise bad_request("message text is empty")
    if text.length > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")
    return text


def _caption(values: dict[str, Any]) -> FormattedText:
    caption = format_text(values.get("caption"), values.get("parse_mode"), values.get("caption_entities"))
    if caption.length > MAX_CAPTION_LENGTH:
        raise bad_request("message caption is too long")
    return caption


def _caption_fields(caption: FormattedText) -> dict[str, Any]:
    return {
        "caption": caption.text or None,
        "caption_entities": caption.entities or None,
    }


def _send(
    ctx: MethodContext, chat: ChatState, markup: dict[str, Any] | None, **content: Any
) -> dict[str, Any]:
    reply_to = ctx.reply_target(chat)
    ctx.charge(chat.id)
    record = ctx.bot.add_message(
        chat, sender=ctx.bot.user, from_bot=True, markup=markup, reply_to=reply_to, **content
    )
    return record.message.to_api()


@METHODS.register("sendMessage")
async def send_message(ctx: MethodContext) -> dict[str, Any]:
    chat = ctx.target_chat()
    text = _text(ctx)
    markup = parse_reply_markup(ctx.params.raw("reply_markup"))
    return _send(ctx, chat, markup, text=text.text, entities=text.entities or None)


async def _source(ctx: MethodContext, field: str) -> InputSource:
    source = await resolve_input(ctx.bot, ctx.params, field_value(ctx.params, field))
    if source is None:
        raise bad_request(f"there is no {field} in the request")
    return source


@METHODS.register("sendPhoto")
async def send_photo(ctx: MethodContext) -> dict[str, Any]:
    return await _send_file(ctx, "photo")


@METHODS.register("sendDocument")
async def send_document(ctx: MethodContext) -> dict[str, Any]:
    return await _send_file(ctx, "document")


async def _send_file(ctx: MethodContext, kind: MediaKind) -> dict[str, Any]:
    chat = ctx.target_chat()
    caption = _caption(ctx.params.values)
    markup = parse_reply_markup(ctx.params.raw("reply_markup"))
    media = await _media(ctx, kind, await _source(ctx, kind))
    return _send(ctx, chat, markup, **media, **_caption_fields(caption))


async def _media(ctx: MethodContext, kind: MediaKind, source: InputSource) -> dict[str, Any]:
    """The message content for one photo or document, within its kind's upload limit."""
    files = ctx.world.config.files
    if kind == "photo":
        return {"photo": await build_photo(ctx.bot, source, files.max_photo_upload)}
    return {"document": await build_document(ctx.bot, source, files.max_document_upload)}


@METHODS.register("sendMediaGroup")
async def send_media_group(ctx: MethodContext) -> list[dict[str, Any]]:
    chat = ctx.target_chat()
    items = ctx.params.json("media", "can't parse media JSON object")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise bad_request("media must be an array of InputMedia objects")
    if len(items) > MAX_MEDIA_GROUP:
        raise bad_request("Too much messages to send as an album")
    if len(items) < MIN_MEDIA_GROUP:
        raise bad_request("media group must include 2-10 items")
    kinds = {item.get("type") for item in items}
    if not kinds <= {"photo", "document"}:
        raise bad_request(f"unsupported media type in the album: {sorted(map(str, kinds))}")
    if len(kinds) > 1:
        raise bad_request("documents can't be mixed with other media types")
    contents = [await _album_item(ctx, item) for item in items]
    reply_to = ctx.reply_target(chat)
    # Telegram counts an album once against the chat but every item against the bot.
    ctx.charge(chat.id, global_cost=len(items))
    group_id = str(secrets.randbits(62))
    return [
        ctx.bot.add_message(
            chat,
            sender=ctx.bot.user,
            from_bot=True,
            reply_to=reply_to,
            media_group_id=group_id,
            **content,
        ).message.to_api()
        for content in contents
    ]


async def _album_item(ctx: MethodContext, item: dict[str, Any]) -> dict[str, Any]:
    caption = _caption(item)
    source = await resolve_input(ctx.bot, ctx.params, item.get("media"))
    if source is None:
        raise bad_request("there is no media in the request")
    return {**await _media(ctx, item["type"], source), **_caption_fields(caption)}


def _editable(ctx: MethodContext) -> tuple[ChatState, MessageRecord]:
    chat = ctx.known_chat()
    record = chat.live_message(ctx.message_id())
    if record is None:
        raise bad_request("message to edit not found")
    if not record.from_bot:
        raise bad_request("message can't be edited")
    return chat, record


def _apply_edit(
    ctx: MethodContext,
    chat: ChatState,
    record: MessageRecord,
    markup: dict[str, Any] | None,
    **changes: Any,
) -> dict[str, Any]:
    before = record.version()
    after = before.model_copy(
        update={
            "reply_markup": markup,
            **{
                key: [e.to_api() for e in value or []] if key.endswith("entities") else value
                for key, value in changes.items()
            },
        }
    )
    if after.model_dump(exclude={"edit_date"}) == before.model_dump(exclude={"edit_date"}):
        raise bad_request(MESSAGE_NOT_MODIFIED)
    ctx.charge(chat.id)
    record.history.append(before)
    record.message = record.message.model_copy(
        update={**changes, "edit_date": unix_now(), "reply_markup": markup}
    )
    record.markup = markup
    chat.touch()
    return record.message.to_api()


@METHODS.register("editMessageText")
async def edit_message_text(ctx: MethodContext) -> dict[str, Any]:
    chat, record = _editable(ctx)
    if record.message.text is None:
        raise bad_request("there is no text in the message to edit")
    text = _text(ctx)
    markup = parse_reply_markup(ctx.params.raw("reply_markup"), inline_only=True)
    return _apply_edit(ctx, chat, record, markup, text=text.text, entities=text.entities or None)


@METHODS.register("editMessageCaption")
async def edit_message_caption(ctx: MethodContext) -> dict[str, Any]:
    chat, record = _editable(ctx)
    if not (record.message.photo or record.message.document):
        raise bad_request("there is no caption in the message to edit")
    caption = _caption(ctx.params.values)
    markup = parse_reply_markup(ctx.params.raw("reply_markup"), inline_only=True)
    return _apply_edit(ctx, chat, record, markup, **_caption_fields(caption))


@METHODS.register("editMessageReplyMarkup")
async def edit_message_reply_markup(ctx: MethodContext) -> dict[str, Any]:
    chat, record = _editable(ctx)
    markup = parse_reply_markup(ctx.params.raw("reply_markup"), inline_only=True)
    return _apply_edit(ctx, chat, record, markup)


@METHODS.register("deleteMessage")
async def delete_message(ctx: MethodContext) -> bool:
    chat = ctx.known_chat()
    record = chat.live_message(ctx.message_id())
    if record is None:
        raise bad_request("message to delete not found")
    if not record.from_bot and chat.chat.type != "private":
        raise bad_request("message can't be deleted")
    ctx.charge(chat.id)
    record.deleted = True
    chat.touch()
    return True
