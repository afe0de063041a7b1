"""Validation of reply_markup: inline keyboards, reply keyboards, remove and force-reply."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from .config import MAX_CALLBACK_DATA_BYTES
from .errors import TelegramError, bad_request

MAX_BUTTONS = 100
MAX_BUTTONS_PER_ROW = 8

_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_REPLY_KEYBOARD_OPTIONS = (
    "is_persistent",
    "resize_keyboard",
    "one_time_keyboard",
    "input_field_placeholder",
    "selective",
)


def parse_reply_markup(value: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
    """Validate a reply_markup parameter (a JSON string or an already decoded object)."""
    if value is None or value == "":
        return None
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        raise bad_request("can't parse reply keyboard markup JSON object") from None
    if not isinstance(data, dict):
        raise bad_request("object expected as reply markup")
    if "inline_keyboard" in data:
        return {"inline_keyboard": _rows(data["inline_keyboard"], _inline_button, "inline_keyboard")}
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in data:
        markup: dict[str, Any] = {"keyboard": _rows(data["keyboard"], _reply_button, "keyboard")}
        markup.update({key: data[key] for key in _REPLY_KEYBOARD_OPTIONS if key in data})
        return markup
    if data.get("remove_keyboard") is True:
        return {"remove_keyboard": True}
    if data.get("force_reply") is True:
        return {key: data[key] for key in ("force_reply", "input_field_placeholder") if key in data}
    raise bad_request("can't parse reply keyboard markup JSON object")


def is_inline(markup: dict[str, Any] | None) -> bool:
    return markup is not None and "inline_keyboard" in markup


def _rows(value: Any, parse_button: Any, field: str) -> list[list[dict[str, Any]]]:
    if not isinstance(value, list) or not all(isinstance(row, list) for row in value):
        raise bad_request(f'field "{field}" of the reply markup must be an array of arrays')
    if sum(len(row) for row in value) > MAX_BUTTONS or any(len(row) > MAX_BUTTONS_PER_ROW for row in value):
        raise bad_request("reply markup is too long")
    return [[parse_button(button) for button in row] for row in value]


def _button_error(reason: str) -> TelegramError:
    return bad_request(f"can't parse inline keyboard button: {reason}")


def _inline_button(button: Any) -> dict[str, Any]:
    if not isinstance(button, dict):
        raise _button_error("InlineKeyboardButton must be an Object")
    text = button.get("text")
    if not isinstance(text, str):
        raise _button_error('Field "text" must be of type String')
    if not text.strip():
        raise bad_request("BUTTON_TEXT_INVALID")
    actions = [key for key in _INLINE_ACTIONS if key in button]
    if not actions:
        raise _button_error("Text buttons are unallowed in the inline keyboard")
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button and not _valid_button_url(button["url"]):
        raise bad_request("BUTTON_URL_INVALID")
    return {"text": text, **{key: button[key] for key in actions}}


def _reply_button(button: Any) -> dict[str, Any]:
    if isinstance(button, str):
        button = {"text": button}
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request('can\'t parse keyboard button: Field "text" must be of type String')
    if not button["text"].strip():
        raise bad_request("keyboard button text must be non-empty")
    return dict(button)


def _valid_button_url(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return bool(parts.hostname)
    return parts.scheme == "tg"
