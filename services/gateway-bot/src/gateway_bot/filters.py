"""Filters shared by the routers."""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from gateway_bot import texts
from gateway_bot.flows.drafts import Draft, StaleDraft, read


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
    """The pressed button belongs to the conversation the user is in now (by the flow id it carries);
    the handler gets its draft, read as ``kind``, as ``draft``. A button of no draft is stale."""

    def __init__(self, kind: type[Draft] = Draft) -> None:
        self.kind = kind

    async def __call__(
        self, event: Any, state: FSMContext, callback_data: Any = None
    ) -> bool | dict[str, Any]:
        flow = getattr(callback_data, "flow", None)
        if flow is None:
            return False
        try:
            draft = await read(state, self.kind)
        except StaleDraft:
            return False
        return {"draft": draft} if draft.flow == flow else False


class IsAdmin(Filter):
    async def __call__(self, message: Message, admin_ids: frozenset[int]) -> bool:
        return message.from_user is not None and message.from_user.id in admin_ids
