"""A job: one paid operation, executed by one runner, described fully by this message."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import Field, StrictInt

from medialab_contracts.base import BusMessage
from medialab_contracts.ids import JOB_ID_PATTERN, new_job_id
from medialab_contracts.media import MediaRef
from medialab_contracts.modes import Mode, Runner
from medialab_contracts.money import Kopecks
from medialab_contracts.subjects import job_subject

TelegramId = Annotated[StrictInt, Field(ge=-(2**52), le=2**52)]
MAX_PROMPT_CHARS = 4000
MAX_INPUTS = 4
MAX_SEED = 2**31 - 1  # every fal model of the catalog takes a 32-bit seed
MAX_VARIANTS = 4  # images one job may ask for (fal's num_images range on nano-banana)


def utc_now() -> datetime:
    return datetime.now(UTC)


class ImageSize(BusMessage):
    width: int = Field(ge=64, le=8192)
    height: int = Field(ge=64, le=8192)


class JobRequest(BusMessage):
    """What a runner needs to execute a job; built by the gateway from the catalog.

    ``inputs`` order matters: M6 face swap is ``[face_source, target]``; M3/M8 keep the user's order.
    """

    job_id: str = Field(default_factory=new_job_id, pattern=JOB_ID_PATTERN)
    user_id: TelegramId
    chat_id: TelegramId
    mode: Mode
    runner: Runner
    model_key: str = Field(max_length=12)
    model_id: str = Field(max_length=120)
    # The whole job's price: the per-image price times ``images``.
    price: Kopecks
    # Variants: how many images one call asks the model for (ModelSpec.max_variants caps it).
    images: int = Field(default=1, ge=1, le=MAX_VARIANTS)
    prompt: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    negative_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    size: ImageSize | None = None
    aspect_ratio: str | None = Field(default=None, pattern=r"^\d{1,2}:\d{1,2}$")
    inputs: list[MediaRef] = Field(default_factory=list, max_length=MAX_INPUTS)
    overlay_text: str | None = Field(default=None, max_length=2000)
    style_wish: str | None = Field(default=None, max_length=1000)
    # Passed to models that take one: the gateway picks it, so «🔁 Повторить» asks for another.
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    created_at: datetime = Field(default_factory=utc_now)
    deadline_s: int = Field(default=600, ge=5, le=3600)

    @property
    def subject(self) -> str:
        return job_subject(self.runner, self.mode)

    def deadline_at(self) -> datetime:
        return self.created_at + timedelta(seconds=self.deadline_s)
