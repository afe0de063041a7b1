"""In-memory stand-in for fal's REST storage and CDN (fal.md §7).

Files live in a dict keyed by a random id; their public URLs point back at the emulator's CDN
prefix. Upload tokens are random strings with an expiry, as fal's ``/storage/auth/token``
returns them.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote, urlsplit

TOKEN_TTL = timedelta(hours=1)
FILES_PATH = "/files/"


@dataclass(frozen=True)
class StoredFile:
    file_id: str
    file_name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class UploadToken:
    token: str
    key: str
    expires_at: datetime


@dataclass
class PendingUpload:
    file_id: str
    file_name: str
    content_type: str


@dataclass
class FileStore:
    """Files by id plus the issued upload tokens and pending signed-URL uploads."""

    files: dict[str, StoredFile] = field(default_factory=dict)
    tokens: dict[str, UploadToken] = field(default_factory=dict)
    pending: dict[str, PendingUpload] = field(default_factory=dict)
    cdn_base: str = ""

    def put(self, data: bytes, content_type: str, file_name: str | None = None) -> StoredFile:
        file_id = uuid.uuid4().hex
        stored = StoredFile(
            file_id=file_id,
            file_name=file_name or f"{file_id}.bin",
            content_type=content_type,
            data=data,
        )
        self.files[file_id] = stored
        return stored

    def url(self, stored: StoredFile) -> str:
        return f"{self.cdn_base}{FILES_PATH}{stored.file_id}/{quote(stored.file_name)}"

    def get(self, file_id: str) -> StoredFile | None:
        return self.files.get(file_id)

    def resolve_url(self, url: str) -> StoredFile | None:
        """The stored file behind one of our CDN URLs; ``None`` for any other URL."""
        prefix = self.cdn_base + FILES_PATH
        if not url.startswith(prefix):
            return None
        file_id = unquote(urlsplit(url).path.rsplit(FILES_PATH, 1)[1]).split("/", 1)[0]
        return self.files.get(file_id)

    def issue_token(self, key: str) -> UploadToken:
        token = UploadToken(
            token=secrets.token_urlsafe(24), key=key, expires_at=datetime.now(UTC) + TOKEN_TTL
        )
        self.tokens[token.token] = token
        return token

    def token_valid(self, token: str) -> bool:
        issued = self.tokens.get(token)
        return issued is not None and issued.expires_at > datetime.now(UTC)

    def initiate(self, file_name: str, content_type: str) -> tuple[PendingUpload, str]:
        """Reserve a file id for a signed ``PUT``; returns it with its one-time upload secret."""
        upload = PendingUpload(file_id=uuid.uuid4().hex, file_name=file_name, content_type=content_type)
        secret = secrets.token_urlsafe(24)
        self.pending[secret] = upload
        return upload, secret

    def complete(self, secret: str, data: bytes, content_type: str | None) -> StoredFile | None:
        upload = self.pending.pop(secret, None)
        if upload is None:
            return None
        stored = StoredFile(
            file_id=upload.file_id,
            file_name=upload.file_name,
            content_type=content_type or upload.content_type,
            data=data,
        )
        self.files[stored.file_id] = stored
        return stored

    def file_url_for(self, upload: PendingUpload) -> str:
        return f"{self.cdn_base}{FILES_PATH}{upload.file_id}/{quote(upload.file_name)}"

    def clear(self) -> None:
        self.files.clear()
        self.tokens.clear()
        self.pending.clear()


def decode_data_uri(uri: str) -> tuple[str, bytes] | None:
    """``(mime, bytes)`` of a base64 ``data:`` URI, or ``None`` if it is not one we can read."""
    if not uri.startswith("data:"):
        return None
    header, sep, payload = uri[len("data:") :].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None
    return header.removesuffix(";base64") or "application/octet-stream", data


def data_uri(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
