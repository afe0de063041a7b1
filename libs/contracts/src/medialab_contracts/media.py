"""References to objects in the ``media`` object store: messages carry names, never image bytes."""

from pydantic import BaseModel, ConfigDict, Field

OBJECT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$"


class MediaRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    object_name: str = Field(pattern=OBJECT_NAME_PATTERN)
    content_type: str = Field(default="application/octet-stream", max_length=100)
    size_bytes: int = Field(default=0, ge=0)
    width: int | None = Field(default=None, ge=1)
    height: int | None = Field(default=None, ge=1)
    file_name: str | None = Field(default=None, max_length=255)
