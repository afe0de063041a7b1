"""Input files (uploads, attach://, file_id, URL) and the Telegram objects built from them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from starlette.datastructures import UploadFile

from .errors import TelegramError, bad_request, entity_too_large
from .media import Rendition, document_thumbnail, guess_mime_type, photo_renditions
from .objects import Document, PhotoSize
from .params import Params
from .state import BotState, StoredFile

_URL_FETCH_TIMEOUT = 10.0
T = TypeVar("T")


@dataclass(frozen=True)
class Upload:
    data: bytes
    file_name: str | None


InputSource = Upload | StoredFile


async def resolve_input(bot: BotState, params: Params, value: Any) -> InputSource | None:
    """What a photo/document/media field points at; None when the field is absent."""
    if isinstance(value, UploadFile):
        return Upload(await value.read(), value.filename)
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("attach://"):
        name = value.removeprefix("attach://")
        upload = params.upload(name)
        if upload is None:
            raise bad_request(f'invalid file attachment: part "{name}" not found')
        return Upload(await upload.read(), upload.filename)
    if value.startswith(("http://", "https://")):
        return await _fetch(value)
    stored = bot.files.get(value)
    if stored is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    return stored


def field_value(params: Params, name: str) -> Any:
    """A file field may arrive as a part of its own name or as a string parameter."""
    return params.upload(name) or params.raw(name)


async def build_photo(bot: BotState, source: InputSource, max_size: int | None) -> list[PhotoSize]:
    if isinstance(source, StoredFile):
        return _reused(source, bot.photo_sets, "Photo")
    data = _new_data(source, max_size, too_large=lambda: bad_request("PHOTO_SAVE_FILE_INVALID"))
    renditions = await asyncio.to_thread(photo_renditions, data)
    sizes = [_stored_photo(bot, "photos", rendition) for rendition in renditions]
    for size in sizes:
        bot.photo_sets[size.file_id] = sizes
    return sizes


async def build_document(
    bot: BotState,
    source: InputSource,
    max_size: int | None,
    *,
    mime_type: str | None = None,
) -> Document:
    if isinstance(source, StoredFile):
        return _reused(source, bot.documents, "Document")
    data = _new_data(source, max_size, too_large=entity_too_large)
    file_name = source.file_name or "document"
    stored = bot.store_file("documents", data, file_name)
    document = Document(
        file_id=stored.file_id,
        file_unique_id=stored.file_unique_id,
        file_name=file_name,
        mime_type=mime_type or guess_mime_type(file_name),
        file_size=stored.size,
        thumbnail=await _thumbnail(bot, data),
    )
    bot.documents[stored.file_id] = document
    return document


def _reused(source: StoredFile, known: Mapping[str, T], kind: str) -> T:
    """A file_id sent again names an earlier file, and only one of the kind asked for."""
    found = known.get(source.file_id)
    if found is None:
        raise bad_request(f"can't use file of type {_kind_name(source)} as {kind}")
    return found


def _new_data(source: Upload, max_size: int | None, too_large: Callable[[], TelegramError]) -> bytes:
    """New bytes must not be empty nor over the limit (each kind says "too large" its own way)."""
    if not source.data:
        raise bad_request("file must be non-empty")
    if max_size is not None and len(source.data) > max_size:
        raise too_large()
    return source.data


async def _thumbnail(bot: BotState, data: bytes) -> PhotoSize | None:
    rendition = await asyncio.to_thread(document_thumbnail, data)
    if rendition is None:
        return None
    return _stored_photo(bot, "thumbnails", rendition)


def _stored_photo(bot: BotState, kind: str, rendition: Rendition) -> PhotoSize:
    stored = bot.store_file(kind, rendition.data)
    return PhotoSize(
        file_id=stored.file_id,
        file_unique_id=stored.file_unique_id,
        width=rendition.width,
        height=rendition.height,
        file_size=stored.size,
    )


async def _fetch(url: str) -> Upload:
    try:
        async with httpx.AsyncClient(timeout=_URL_FETCH_TIMEOUT, follow_redirects=True) as http:
            response = await http.get(url)
    except httpx.HTTPError:
        raise bad_request("failed to get HTTP URL content") from None
    if response.status_code != 200:
        raise bad_request("failed to get HTTP URL content")
    file_name = urlsplit(url).path.rsplit("/", 1)[-1] or None
    return Upload(response.content, file_name)


def _kind_name(stored: StoredFile) -> str:
    return {"photos": "Photo", "documents": "Document", "stickers": "Sticker"}.get(stored.kind, "File")
