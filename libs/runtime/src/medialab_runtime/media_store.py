"""The ``media`` object store: every input and result image lives here, named by job."""

from __future__ import annotations

from medialab_contracts import subjects
from medialab_contracts.media import MediaRef
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from nats.js.object_store import ObjectStore


class MediaNotFound(LookupError):
    pass


class MediaStore:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    @classmethod
    async def open(cls, js: JetStreamContext) -> MediaStore:
        return cls(await js.object_store(subjects.MEDIA_BUCKET))

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

    async def exists(self, name: str) -> bool:
        try:
            await self._store.get_info(name)
        except NotFoundError:
            return False
        return True
