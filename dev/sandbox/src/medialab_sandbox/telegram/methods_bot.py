"""Bot API methods about the bot itself: identity, updates, webhook, commands, files."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import urlsplit

from .context import Described, MethodContext, MethodTable
from .errors import bad_request, conflict
from .objects import BotCommand, File, WebhookInfo
from .schemas import CallbackAnswer, ChatActionRecord
from .state import WebhookSettings

METHODS = MethodTable()

_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_MAX_COMMANDS = 100
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
WEBHOOK_ACTIVE = (
    "can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
TERMINATED = "terminated by other getUpdates request; make sure that only one bot instance is running"


@METHODS.register("getMe")
async def get_me(ctx: MethodContext) -> dict[str, Any]:
    return ctx.bot.user.to_api()


@METHODS.register("getUpdates")
async def get_updates(ctx: MethodContext) -> list[dict[str, Any]]:
    bot, params = ctx.bot, ctx.params
    if bot.webhook is not None:
        raise conflict(WEBHOOK_ACTIVE)
    offset = params.integer("offset", "invalid offset specified") or 0
    limit = min(max(params.integer("limit", "invalid limit specified") or 100, 1), 100)
    timeout = min(
        max(params.integer("timeout", "invalid timeout specified") or 0, 0),
        ctx.world.config.max_long_poll_seconds,
    )
    allowed = params.json("allowed_updates", "can't parse allowed updates JSON array")
    if isinstance(allowed, list):
        bot.updates.set_allowed([str(kind) for kind in allowed])
    bot.updates.confirm(offset)
    # A newer poll ends the one still waiting, exactly as Telegram does.
    bot.poll_generation += 1
    generation = bot.poll_generation
    bot.updates.signal.bump()
    while True:
        seen = bot.updates.signal.version
        batch = bot.updates.batch(limit)
        if batch or timeout <= 0:
            return [update.to_api() for update in batch]
        woke = await bot.updates.signal.wait_past(seen, timeout, abort=ctx.world.closing)
        if generation != bot.poll_generation:
            raise conflict(TERMINATED)
        if bot.webhook is not None:
            raise conflict(WEBHOOK_ACTIVE)
        if not woke:
            return [update.to_api() for update in bot.updates.batch(limit)]


@METHODS.register("setWebhook")
async def set_webhook(ctx: MethodContext) -> Described:
    bot, params = ctx.bot, ctx.params
    url = params.text("url") or ""
    if not url:
        return await _delete_webhook(ctx)
    parts = urlsplit(url)
    # Unlike Telegram, plain http and any port are allowed: receivers run on localhost.
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("bad webhook: An HTTP or HTTPS URL must be provided for webhook")
    secret = params.text("secret_token")
    if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
        raise bad_request("secret token contains unallowed characters")
    max_connections = params.integer("max_connections", "invalid max_connections") or 40
    if not 1 <= max_connections <= 100:
        raise bad_request("bad webhook: max_connections must be between 1 and 100")
    allowed = params.json("allowed_updates", "can't parse allowed updates JSON array")
    if isinstance(allowed, list):
        bot.updates.set_allowed([str(kind) for kind in allowed])
    if params.flag("drop_pending_updates"):
        bot.updates.clear()
    unchanged = bot.webhook is not None and bot.webhook.url == url
    bot.webhook = WebhookSettings(
        url=url,
        secret_token=secret,
        max_connections=max_connections,
        allowed_updates=sorted(bot.updates.allowed) if bot.updates.allowed else None,
        ip_address=params.text("ip_address"),
    )
    bot.updates.signal.bump()  # a waiting getUpdates now ends with 409
    await ctx.webhooks.restart(bot)
    return Described(True, "Webhook is already set" if unchanged else "Webhook was set")


@METHODS.register("deleteWebhook")
async def delete_webhook(ctx: MethodContext) -> Described:
    return await _delete_webhook(ctx)


async def _delete_webhook(ctx: MethodContext) -> Described:
    bot = ctx.bot
    if ctx.params.flag("drop_pending_updates"):
        bot.updates.clear()
    existed = bot.webhook is not None
    bot.webhook = None
    await ctx.webhooks.stop(bot)
    return Described(True, "Webhook was deleted" if existed else "Webhook is already deleted")


@METHODS.register("getWebhookInfo")
async def get_webhook_info(ctx: MethodContext) -> dict[str, Any]:
    bot = ctx.bot
    webhook = bot.webhook
    if webhook is None:
        return WebhookInfo(url="", pending_update_count=len(bot.updates)).to_api()
    return WebhookInfo(
        url=webhook.url,
        pending_update_count=len(bot.updates),
        ip_address=webhook.ip_address,
        last_error_date=webhook.last_error_date,
        last_error_message=webhook.last_error_message,
        max_connections=webhook.max_connections,
        allowed_updates=webhook.allowed_updates,
    ).to_api()


def _commands_key(ctx: MethodContext) -> str:
    scope = ctx.params.json("scope", "can't parse BotCommandScope JSON object")
    if scope is None:
        scope = {"type": "default"}
    if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
        raise bad_request("can't parse BotCommandScope JSON object")
    language = ctx.params.text("language_code") or ""
    return f"{json.dumps(scope, sort_keys=True)}|{language}"


@METHODS.register("setMyCommands")
async def set_my_commands(ctx: MethodContext) -> bool:
    raw = ctx.params.json("commands", "can't parse commands JSON object")
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise bad_request("can't parse commands JSON object")
    if len(raw) > _MAX_COMMANDS:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    commands = []
    for item in raw:
        command, description = item.get("command"), item.get("description")
        if not isinstance(command, str) or not _COMMAND.fullmatch(command):
            raise bad_request("BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        commands.append(BotCommand(command=command, description=description))
    key = _commands_key(ctx)
    if commands:
        ctx.bot.commands[key] = commands
    else:
        ctx.bot.commands.pop(key, None)
    return True


@METHODS.register("getMyCommands")
async def get_my_commands(ctx: MethodContext) -> list[dict[str, Any]]:
    return [command.to_api() for command in ctx.bot.commands.get(_commands_key(ctx), [])]


@METHODS.register("deleteMyCommands")
async def delete_my_commands(ctx: MethodContext) -> bool:
    ctx.bot.commands.pop(_commands_key(ctx), None)
    return True


@METHODS.register("answerCallbackQuery")
async def answer_callback_query(ctx: MethodContext) -> bool:
    params = ctx.params
    query_id = params.text("callback_query_id") or ""
    record = ctx.bot.callbacks.get(query_id)
    if record is None or record.answer.answered:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    record.answer = CallbackAnswer(
        callback_query_id=query_id,
        answered=True,
        text=params.text("text"),
        show_alert=params.flag("show_alert"),
        url=params.text("url"),
        cache_time=params.integer("cache_time", "invalid cache_time specified"),
    )
    record.signal.bump()
    return True


@METHODS.register("sendChatAction")
async def send_chat_action(ctx: MethodContext) -> bool:
    chat = ctx.target_chat()
    action = ctx.params.text("action")
    if action not in _CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    latest = max(chat.messages, default=0)
    chat.actions.append(ChatActionRecord(action=action, at=time.time(), after_message_id=latest))
    chat.touch()
    return True


@METHODS.register("getFile")
async def get_file(ctx: MethodContext) -> dict[str, Any]:
    stored = ctx.bot.files.get(ctx.params.text("file_id") or "")
    if stored is None:
        raise bad_request("invalid file_id")
    if stored.size > ctx.world.config.files.max_download:
        raise bad_request("file is too big")
    return File(
        file_id=stored.file_id,
        file_unique_id=stored.file_unique_id,
        file_size=stored.size,
        file_path=stored.file_path,
    ).to_api()
