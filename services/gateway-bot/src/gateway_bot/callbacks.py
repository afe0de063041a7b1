"""Every inline button's callback data: short prefixes, StrEnum fields, ids only (≤ 64 bytes packed).

Step buttons carry the id of the flow that drew them, so a button of an older or another user's
conversation never acts on the current one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from medialab_contracts.jobs import MAX_VARIANTS
from pydantic import Field


class NavAction(StrEnum):
    cancel = "c"
    skip = "s"
    launch = "go"  # «✅ Запустить» under a price: the order waits in the FSM until this press


class RetouchKind(StrEnum):
    soft = "soft"
    enhance = "enh"


class ResultAction(StrEnum):
    edit = "e"
    upscale = "u"
    create = "c"  # M2: create an image from the written prompt


class NavCb(CallbackData, prefix="nav"):
    action: NavAction
    flow: str


class ModelCb(CallbackData, prefix="m"):
    flow: str
    model: str  # catalog key


class FormatCb(CallbackData, prefix="f"):
    flow: str
    fmt: Annotated[str, Field(pattern=r"^[a-z0-9]{1,12}$")]  # ImageFormat.key of the chosen model


class VariantsCb(CallbackData, prefix="v"):
    """How many images (variants) one job asks for, chosen on the step before the prompt."""

    flow: str
    n: int = Field(ge=1, le=MAX_VARIANTS)


class RetouchCb(CallbackData, prefix="rt"):
    flow: str
    kind: RetouchKind


class ResultCb(CallbackData, prefix="res"):
    action: ResultAction
    job: str
    n: int = 0  # index of the output


class CancelJobCb(CallbackData, prefix="cj"):
    """❌ Отменить under a job's status; only the job's owner may (the gateway and billing check)."""

    job: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]


class RephraseCb(CallbackData, prefix="rp"):
    job: str  # the job a safety filter refused


class HistoryCb(CallbackData, prefix="h"):
    page: int


class PayMethod(StrEnum):
    stars = "s"
    yookassa = "y"


class TopupCb(CallbackData, prefix="top"):
    rub: int  # the amount chosen, whole rubles (a pack, or what a shortfall needs), within the limits
    method: PayMethod | None = None  # None: not chosen yet (asked when YooKassa is on)


class TopupOtherCb(CallbackData, prefix="topo"):
    """«✏️ Другая сумма»: the user types the amount."""


class WorkAction(StrEnum):
    original = "o"  # re-send the document by its file_id (free)
    repeat = "r"  # the same order with a new seed, priced as new
    edit = "e"  # ✏️ Изменить with this result as the input
    upscale = "u"  # 🔍 Улучшить this result


class WorkCb(CallbackData, prefix="w"):
    """A kept work's button; the work is looked up under the presser's own id, so it acts on theirs only."""

    action: WorkAction
    job: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    n: int = Field(default=0, ge=0)  # index of the output


class WorksPageCb(CallbackData, prefix="wp"):
    page: int = Field(ge=1)


class DeleteMeAction(StrEnum):
    confirm = "y"
    cancel = "n"


class DeleteMeCb(CallbackData, prefix="del"):
    """The answer to /delete_me; it acts on the presser's own data only, whoever drew the button."""

    action: DeleteMeAction


class LanguageCb(CallbackData, prefix="lang"):
    locale: str  # one of i18n.LOCALES; the handler's filter refuses others
