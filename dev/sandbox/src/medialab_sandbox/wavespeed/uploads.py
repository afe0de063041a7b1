"""Media the emulator serves: uploads (ticket and legacy binary), task outputs, input lookup."""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
import secrets
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import quote, unquote, urlsplit

MEDIA_PREFIX = "/media"
UPLOAD_PREFIX = "/upload"

_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*),(?P<data>.*)$", re.S)
_MEDIA_PATH = re.compile(rf"^{MEDIA_PREFIX}/(?P<media_id>[0-9a-f]{{32}})/(?P<name>[^/]+)$")


class MediaAccessError(Exception):
    """An input reference the emulator cannot fetch (task code 1402)."""


@dataclass
class Media:
    media_id: str
    filename: str
    content_type: str
    data: bytes | None = None  # None until a ticket upload's PUT arrives

    @property
    def path(self) -> str:
        return f"{MEDIA_PREFIX}/{self.media_id}/{quote(self.filename)}"

    @property
    def kind(self) -> str:
        """`data.type` of an upload answer."""
        major = self.content_type.split("/", 1)[0]
        return major if major in ("image", "video", "audio") else "file"


@dataclass
class Ticket:
    """A signed-URL upload: the PUT to `path` fills `media`."""

    token: str
    media: Media

    @property
    def path(self) -> str:
        return f"{UPLOAD_PREFIX}/{self.token}"


class MediaStore:
    def __init__(self) -> None:
        self._media: dict[str, Media] = {}
        self._tickets: dict[str, Ticket] = {}

    def add(self, filename: str, content_type: str, data: bytes | None) -> Media:
        media = Media(secrets.token_hex(16), safe_filename(filename), content_type, data)
        self._media[media.media_id] = media
        return media

    def open_ticket(self, filename: str, content_type: str) -> Ticket:
        ticket = Ticket(secrets.token_urlsafe(24), self.add(filename, content_type, None))
        self._tickets[ticket.token] = ticket
        return ticket

    def clear(self) -> None:
        self._media.clear()
        self._tickets.clear()

    def ticket(self, token: str) -> Ticket | None:
        return self._tickets.get(token)

    def get(self, media_id: str, filename: str) -> Media | None:
        """Uploaded (or produced) media by id and its decoded file name."""
        media = self._media.get(media_id)
        if media is None or media.data is None or media.filename != filename:
            return None
        return media

    def resolve(self, reference: str, own_hosts: frozenset[str]) -> bytes:
        """Bytes behind an input field: an emulator media URL or a base64 data URI."""
        if reference.startswith("data:"):
            return decode_data_uri(reference)
        parts = urlsplit(reference)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise MediaAccessError("not an http(s) URL or data URI")
        if parts.netloc.lower() not in own_hosts:
            # No outside network in the sandbox: every foreign URL is unreachable.
            raise MediaAccessError("host is not reachable from the sandbox")
        match = _MEDIA_PATH.match(parts.path)
        media = self.get(match["media_id"], unquote(match["name"])) if match else None
        if media is None or media.data is None:
            raise MediaAccessError("no media at this URL")
        return media.data


def decode_data_uri(uri: str) -> bytes:
    match = _DATA_URI.match(uri)
    if match is None or ";base64" not in match["params"]:
        raise MediaAccessError("data URI is not base64")
    try:
        return base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MediaAccessError("data URI holds invalid base64") from exc


def safe_filename(filename: str) -> str:
    name = PurePosixPath(filename.replace("\\", "/")).name
    return name or "file"


def guess_content_type(filename: str, declared: str | None) -> str:
    if declared and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"
