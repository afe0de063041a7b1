"""References to objects in the ``media`` object store: messages carry names, never image bytes."""

import re
import secrets

from pydantic import BaseModel, ConfigDict, Field

OBJECT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$"
UPLOAD_ID_BYTES = 16  # 128 bits: an upload's name cannot be guessed
_UPLOAD_NAME = re.compile(r"^uploads/(\d+)/[0-9a-f]{32}(?:-[A-Za-z0-9._-]+)?$")


def upload_name(owner: int) -> str:
    """The object name of a new upload of ``owner`` (a Telegram user id): the owner, then 128 random bits."""
    return f"uploads/{owner}/{secrets.token_hex(UPLOAD_ID_BYTES)}"


def upload_owner(object_name: str) -> int | None:
    """The owner named by an upload's object name (a derived copy's suffix kept); None if not an upload."""
    found = _UPLOAD_NAME.match(object_name)
    return int(found.group(1)) if found else None


class MediaRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    object_name: str = Field(pattern=OBJECT_NAME_PATTERN)
    content_type: str = Field(default="application/octet-stream", max_length=100)
    size_bytes: int = Field(default=0, ge=0)
    width: int | None = Field(default=None, ge=1)
    height: int | None = Field(default=None, ge=1)
    file_name: str | None = Field(default=None, max_length=255)
