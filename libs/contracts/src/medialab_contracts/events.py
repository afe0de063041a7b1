"""Job events on the EVENTS stream (``events.job.<job_id>.<kind>``)."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from medialab_contracts.base import BusMessage
from medialab_contracts.ids import JOB_ID_PATTERN
from medialab_contracts.jobs import TelegramId, utc_now
from medialab_contracts.media import MediaRef
from medialab_contracts.modes import Mode
from medialab_contracts.subjects import event_subject


class FailureReason(StrEnum):
    """Why a job failed; the gateway words each one in Russian, users never see provider bodies."""

    not_an_image = "not_an_image"
    bad_image = "bad_image"  # corrupt, truncated, unsupported
    image_too_large = "image_too_large"  # bytes or pixels over the limit, decompression bomb
    # An input is no longer in the media store: stored for a limited time, it expired before the job read it.
    input_gone = "input_gone"
    foreign_input = "foreign_input"  # an input is another user's upload (a forged job); never read
    text_too_long = "text_too_long"  # the words to write or draw exceed the limit, or do not fit the picture
    # Anything else the request got wrong: a job its model cannot take, parameters the provider refused.
    bad_input = "bad_input"
    provider_rejected = "provider_rejected"  # 4xx validation from the provider
    moderation = "moderation"  # content policy
    no_face = "no_face"
    provider_error = "provider_error"  # the provider failed the task
    provider_unavailable = "provider_unavailable"  # model disabled, auth, account locked
    provider_busy = "provider_busy"  # the provider shed load (429) or no slot freed before the deadline
    timeout = "timeout"  # the job's deadline passed
    dead_letter = "dead_letter"  # redelivered too often
    cancelled = "cancelled"
    internal = "internal"


class JobEventBase(BusMessage):
    job_id: str = Field(pattern=JOB_ID_PATTERN)
    user_id: TelegramId
    chat_id: TelegramId
    mode: Mode
    at: datetime = Field(default_factory=utc_now)

    @property
    def subject(self) -> str:
        return event_subject(self.job_id, self.kind)  # type: ignore[attr-defined]


class JobAccepted(JobEventBase):
    kind: Literal["accepted"] = "accepted"
    model_id: str
    price: int = Field(ge=0)


class JobProgress(JobEventBase):
    kind: Literal["progress"] = "progress"
    stage: Literal["queued", "running", "uploading", "downloading"] = "running"
    # Jobs ahead of this one (0 = next): in fal's queue, or in ours while it waits for a provider slot.
    queue_position: int | None = Field(default=None, ge=0)
    elapsed_s: float = Field(default=0.0, ge=0)
    # The runner's estimate of the seconds until the result (from its recent jobs); None: no estimate.
    eta_s: float | None = Field(default=None, ge=0)


class MediaOutput(MediaRef):
    width: int = Field(ge=1)
    height: int = Field(ge=1)


class JobSucceeded(JobEventBase):
    kind: Literal["succeeded"] = "succeeded"
    outputs: list[MediaOutput] = Field(default_factory=list)
    text: str | None = None  # M2 results are text
    provider_ms: int = Field(default=0, ge=0)  # time spent at the provider, for overhead figures


class JobFailed(JobEventBase):
    kind: Literal["failed"] = "failed"
    reason: FailureReason
    # Operator-facing; never a provider body or a stack trace, and never shown to the user.
    detail: str = Field(default="", max_length=500)


JobEvent = Annotated[JobAccepted | JobProgress | JobSucceeded | JobFailed, Field(discriminator="kind")]
_job_event_adapter: TypeAdapter[JobEvent] = TypeAdapter(JobEvent)


def parse_job_event(data: bytes | str) -> JobAccepted | JobProgress | JobSucceeded | JobFailed:
    return _job_event_adapter.validate_json(data)


class DeadLetter(BusMessage):
    """Recorded on ``events.deadletter.<job_id>`` when a job exhausted its deliveries."""

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    stream_seq: int = Field(ge=0)
    deliveries: int = Field(ge=0)
    consumer: str
