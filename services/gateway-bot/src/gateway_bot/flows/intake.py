"""Taking an image from a message: Telegram's metadata first, then the bytes, then into ``uploads``.

Each upload counts against the user's hourly quotas (files and bytes, the bytes from Telegram's
``file_size`` before anything is downloaded); the file is downloaded here through getFile (the
token never leaves the gateway), checked (header first, nothing decoded before its pixels passed) and
only then stored, in the ``uploads`` bucket (expiring within the hour unless a job takes it) as
``upload_name(owner)``: ``uploads/<owner's Telegram id>/<128 random bits>``. Nobody can guess another
user's upload, and the owner in the name is what runners check a job's inputs against.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from typing import Protocol

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message
from medialab_contracts.media import MediaRef, upload_name
from medialab_runtime.decoding import PixelBudget
from medialab_runtime.images import ImageLimits
from medialab_runtime.media_store import MediaStore

from gateway_bot.failures import DownloadFailed, ImageTooLarge, NotAnImage
from gateway_bot.imaging import check_header, check_image
from gateway_bot.storage.quotas import UploadQuota

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    file_id: str
    message_id: int
    file_size: int | None = None
    mime_type: str | None = None
    file_name: str | None = None


def upload_of(message: Message) -> Upload | None:
    """The largest photo size, or the document; None when the message carries neither."""
    if message.photo:
        largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        return Upload(largest.file_id, message.message_id, largest.file_size, "image/jpeg")
    if message.document:
        doc = message.document
        return Upload(doc.file_id, message.message_id, doc.file_size, doc.mime_type, doc.file_name)
    return None


def precheck(upload: Upload, max_bytes: int) -> None:
    """Refuse from Telegram's metadata alone, before downloading anything."""
    if upload.mime_type and not upload.mime_type.lower().startswith("image/"):
        raise NotAnImage(upload.mime_type)
    if upload.file_size is not None and upload.file_size > max_bytes:
        raise ImageTooLarge(max_bytes)


class Intake(Protocol):
    """What the handlers need to take an image in: ``ImageIntake``, or a fake one in flow tests."""

    async def accept(self, bot: Bot, upload: Upload, owner: int, max_bytes: int) -> MediaRef: ...


class ImageIntake:
    def __init__(
        self, uploads: MediaStore, limits: ImageLimits, quota: UploadQuota, decoding: PixelBudget
    ) -> None:
        self._uploads = uploads
        self._limits = limits
        self._quota = quota
        self._decoding = decoding

    async def accept(self, bot: Bot, upload: Upload, owner: int, max_bytes: int) -> MediaRef:
        """Check, then store in the ``uploads`` bucket, where it expires unless a job takes it."""
        precheck(upload, max_bytes)
        await self._quota.take(owner, upload.file_size)
        try:
            buffer = await bot.download(upload.file_id)
        except TelegramAPIError as error:
            log.warning("download of message %d failed: %s", upload.message_id, error.message)
            raise DownloadFailed(error.message) from error
        data = buffer.read() if buffer is not None else b""  # aiogram rewinds it
        if upload.file_size is None:
            await self._quota.add_bytes(owner, len(data))
        limits = dataclasses.replace(self._limits, max_bytes=min(max_bytes, self._limits.max_bytes))
        header = await asyncio.to_thread(check_header, data, limits)
        info = await self._decoding.run(header.width * header.height, check_image, data, limits)
        return await self._uploads.put(
            upload_name(owner),
            data,
            info.content_type,
            width=info.width,
            height=info.height,
            file_name=upload.file_name,
        )
