"""Wire models of the WaveSpeed v3 API as the emulator speaks it (wavespeed.md §2–§9)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from medialab_sandbox.wavespeed.codes import TaskErrorCode

OutputFormat = Literal["jpeg", "png", "webp"]

FACE_SWAP_MODEL = "wavespeed-ai/image-face-swap"
FACE_SWAP_PRO_MODEL = "wavespeed-ai/image-face-swap-pro"


class TaskStatus(StrEnum):
    CREATED = "created"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED)


class FaceSwapProInput(BaseModel):
    """Body of `wavespeed-ai/image-face-swap-pro`; strict so a wrongly typed field is a 400."""

    model_config = ConfigDict(strict=True, extra="ignore")

    image: str = Field(min_length=1)
    face_image: str = Field(min_length=1)
    output_format: OutputFormat = "jpeg"
    enable_base64_output: bool = False
    enable_sync_mode: bool = False


class FaceSwapInput(FaceSwapProInput):
    """Body of `wavespeed-ai/image-face-swap`: the pro fields plus face selection and safety."""

    target_index: int = Field(default=0, ge=0, le=10)
    enable_safety_checker: bool = True


MODEL_INPUTS: dict[str, type[FaceSwapProInput]] = {
    FACE_SWAP_MODEL: FaceSwapInput,
    FACE_SWAP_PRO_MODEL: FaceSwapProInput,
}


def describe_validation_error(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}" for item in error.errors()
    )


def validation_error_code(error: ValidationError) -> TaskErrorCode:
    if any(item["type"] == "missing" for item in error.errors()):
        return TaskErrorCode.MISSING_PARAMETER
    return TaskErrorCode.INVALID_PARAMETER


class Urls(BaseModel):
    get: str


class Timings(BaseModel):
    inference: int = 0


class PredictionData(BaseModel):
    """`data` of the submit and result envelopes; `code` is only set on failures and timeouts."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    model: str
    outputs: list[str] = Field(default_factory=list)
    urls: Urls
    has_nsfw_contents: list[bool] = Field(default_factory=list)
    status: TaskStatus
    created_at: str
    error: str = ""
    execution_time: int = Field(default=0, alias="executionTime")
    timings: Timings = Field(default_factory=Timings)
    code: int | None = None


class Envelope(BaseModel):
    code: int = 200
    message: str = "success"
    data: PredictionData

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class HistoryRequest(BaseModel):
    """Body of `POST /api/v3/predictions` (docs: docs-common-api/predictions); `include_inputs`
    is not in the docs but WaveSpeed's own CLI sends it and reads `inputs` from each item."""

    model_config = ConfigDict(extra="ignore")

    page: int = Field(ge=1)
    page_size: int = Field(ge=1, le=100)
    model: str | None = None
    status: TaskStatus | None = None
    created_after: AwareDatetime | None = None
    created_before: AwareDatetime | None = None
    include_inputs: bool = False

    @field_validator("created_after", "created_before", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        # The docs give ISO 8601 text; pydantic would also take a number as a Unix time.
        if value is not None and not isinstance(value, str):
            raise ValueError("must be an ISO 8601 date-time string")
        return value


class HistoryItem(PredictionData):
    inputs: dict[str, Any] | None = None


class HistoryPage(BaseModel):
    page: int
    total: int
    items: list[HistoryItem]


class HistoryEnvelope(BaseModel):
    code: int = 200
    message: str = "success"
    data: HistoryPage

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ErrorBody(BaseModel):
    """Body of a non-2xx answer: the platform envelope `{code, message}` (shape UNCONFIRMED)."""

    code: int
    message: str


class UploadTicketRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    filename: str = Field(min_length=1)
    size: int = Field(ge=0)
    content_type: str = Field(min_length=1)


class UploadTarget(BaseModel):
    method: Literal["PUT"] = "PUT"
    url: str
    headers: dict[str, str]


class UploadData(BaseModel):
    type: str
    download_url: str
    filename: str
    size: int
    upload: UploadTarget | None = None


class UploadEnvelope(BaseModel):
    code: int = 200
    message: str = "success"
    data: UploadData

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


WEBHOOK_BASE64_ERROR = (
    "webhook callback does not support base64 output, please use the normal API to use base64 output"
)
