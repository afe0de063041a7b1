"""What a conversation keeps between its steps, typed: one draft per flow, in the FSM data (KV).

A step reads the draft it needs with ``read``: a subclass that makes the fields chosen by earlier
steps required, so a draft without them is refused as a whole instead of failing on a missing key.
No draft, one of another flow, or one of an older gateway is ``StaleDraft``: a button of it is
stale (``filters.SameFlow``), a message in its step ends the flow like any unexpected failure.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, TypeVar

from aiogram.fsm.context import FSMContext
from medialab_contracts.media import MediaRef
from medialab_contracts.modes import Mode
from pydantic import BaseModel, ValidationError

from gateway_bot.callbacks import RetouchKind
from gateway_bot.flows.launcher import Order

log = logging.getLogger(__name__)

D = TypeVar("D", bound=BaseModel)


class StaleDraft(Exception):
    """The FSM data holds no draft of the kind a step needs."""


def new_flow() -> str:
    """A fresh flow id: buttons carry it, so those of older conversations stop working."""
    return secrets.token_hex(4)


class Draft(BaseModel):
    """Every conversation's draft: the flow id its buttons carry."""

    flow: str


class CreateDraft(Draft):  # M1
    prompt: str | None = None  # typed at the menu or taken from a result, before the model
    model: str | None = None
    format: str | None = None
    images: int = 1


class CreateWithModel(CreateDraft):
    model: str


class CreateWithFormat(CreateWithModel):
    format: str


class EditDraft(Draft):  # M3 and M8
    mode: Mode
    model: str | None = None
    format: str | None = None  # only models that offer formats ask for one
    images: int = 1


class EditWithModel(EditDraft):
    model: str


class RetouchDraft(Draft):  # M4
    image: MediaRef | None = None
    kind: RetouchKind | None = None


class RetouchReady(RetouchDraft):
    image: MediaRef
    kind: RetouchKind


class TextDraft(Draft):  # M5
    image: MediaRef | None = None
    format: str | None = None  # a marketplace preset, if one was picked
    overlay: str | None = None


class TextReady(TextDraft):
    image: MediaRef
    overlay: str


class FaceSwapDraft(Draft):  # M6
    face: MediaRef | None = None


class FaceSwapReady(FaceSwapDraft):
    face: MediaRef


class OrderDraft(Draft):
    """A whole order that waits: for «✅ Запустить» or for the new prompt of a rephrase."""

    order: Order


class PendingTopup(BaseModel):
    """A YooKassa top-up waiting for the receipt's e-mail; kept beside whatever flow was open."""

    topup_rub: int


async def read(state: FSMContext, kind: type[D]) -> D:
    """The conversation's draft as ``kind``; StaleDraft if the data holds none (cleared, or written by
    another flow or an older gateway)."""
    try:
        return kind.model_validate(await state.get_data())
    except ValidationError as error:
        log.info("no %s in the FSM data: %d problems", kind.__name__, error.error_count())
        raise StaleDraft(kind.__name__) from error


async def update(state: FSMContext, draft: BaseModel, kind: type[D], /, **changes: Any) -> D:
    """``draft`` with ``changes``, validated as ``kind`` (the draft of the next step); only the changed
    fields are written (one compare-and-set merge), so a field another step wrote meanwhile is kept."""
    changed = kind.model_validate({**draft.model_dump(), **changes})
    await state.update_data(changed.model_dump(mode="json", include=set(changes)))
    return changed
