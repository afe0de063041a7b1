"""Filters shared by the routers."""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from gateway_bot import texts


class PlainText(Filter):
    """Typed text that is neither a command nor a main-menu button."""

    async def __call__(self, message: Message) -> bool:
        text = message.text
        if not text:
            return False
        return not text.startswith("/") and text not in texts.MENU_BUTTONS


class HasImage(Filter):
    async def __call__(self, message: Message) -> bool:
        return bool(message.photo or message.document)


class SameFlow(Filter):
    """The pressed button belongs to the conversation the user is in now (by the flow id it carries)."""

    async def __call__(self, event: Any, state: FSMContext, callback_data: Any = None) -> bool:
        flow = getattr(callback_data, "flow", None)
        return flow is not None and flow == (await state.get_data()).get("flow")


class IsAdmin(Filter):
    async def __call__(self, message: Message, admin_ids: frozenset[int]) -> bool:
        return message.from_user is not None and message.from_user.id in admin_ids
