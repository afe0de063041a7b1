"""The object stores of images: ``media`` (every job's inputs and results) and ``uploads`` (the gateway's
uploads until a job takes them). Each object is capped in bytes here, each bucket in total by JetStream."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from medialab_contracts import subjects
from medialab_contracts.events import FailureReason
from medialab_contracts.media import MediaRef, upload_owner
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from nats.js.object_store import ObjectStore

from medialab_runtime.images import ImageInfo, ImageLimits, ImageRejected, check_inputs
from medialab_runtime.limits import MAX_OBJECT_BYTES


class MediaNotFound(LookupError):
    pass


class ObjectTooLarge(ImageRejected):
    """More bytes than one object may have (MEDIA_MAX_OBJECT_BYTES): refused before anything is stored."""

    reason = FailureReason.image_too_large


class ForeignInput(ImageRejected):
    """A job names an upload of another user: refused, never read."""

    reason = FailureReason.foreign_input


def check_owner(refs: Sequence[MediaRef], user_id: int) -> None:
    """No input is another user's upload; raises ``ForeignInput``.

    Every upload carries its owner in its name (``uploads/<owner>/<128 bits>``, the gateway's intake
    names nothing else so); a result is offered for reuse only to the owner of its job (the gateway
    checks the job's event before it preloads one).
    """
    for ref in refs:
        owner = upload_owner(ref.object_name)
        if owner is not None and owner != user_id:
            raise ForeignInput(f"input {ref.object_name} is not an upload of user {user_id}")


class MediaStore:
    def __init__(self, store: ObjectStore, max_object_bytes: int = MAX_OBJECT_BYTES) -> None:
        self._store = store
        self._max_object_bytes = max_object_bytes

    @classmethod
    async def open(
        cls,
        js: JetStreamContext,
        max_object_bytes: int = MAX_OBJECT_BYTES,
        bucket: str = subjects.MEDIA_BUCKET,
    ) -> MediaStore:
        return cls(await js.object_store(bucket), max_object_bytes)

    async def put(
        self,
        name: str,
        data: bytes,
        content_type: str,
        *,
        width: int | None = None,
        height: int | None = None,
        file_name: str | None = None,
    ) -> MediaRef:
        if len(data) > self._max_object_bytes:
            raise ObjectTooLarge(f"{name}: {len(data)} bytes, one object may have {self._max_object_bytes}")
        ref = MediaRef(
            object_name=name,
            content_type=content_type,
            size_bytes=len(data),
            width=width,
            height=height,
            file_name=file_name,
        )
        await self._store.put(name, data)
        return ref

    async def get(self, name: str) -> bytes:
        try:
            result = await self._store.get(name)
        except NotFoundError as error:
            raise MediaNotFound(name) from error
        return bytes(result.data or b"")

    async def get_inputs(
        self, refs: Sequence[MediaRef], user_id: int, limits: ImageLimits
    ) -> list[tuple[bytes, ImageInfo]]:
        """A job's input images with what their headers say: owned by its user, each header and the set
        as a whole within ``limits``, all checked before any is decoded. Raises ``ImageRejected`` or
        ``MediaNotFound``."""
        check_owner(refs, user_id)
        datas = [await self.get(ref.object_name) for ref in refs]
        infos = await asyncio.to_thread(check_inputs, datas, limits)
        return list(zip(datas, infos, strict=True))

    async def exists(self, name: str) -> bool:
        try:
            await self._store.get_info(name)
        except NotFoundError:
            return False
        return True
