"""Input images: from the ``media`` store, through the 4 MB rule, onto fal's CDN.

Providers get our own uploaded copies (never a Telegram URL); a model that wants PNG gets PNG.
"""

from __future__ import annotations

import asyncio

from medialab_contracts.jobs import JobRequest
from medialab_runtime.decoding import PixelBudget
from medialab_runtime.images import ImageInfo, ImageLimits, prepare_upload
from medialab_runtime.media_store import MediaStore

from fal_runner.fal_api import FalClient, FalError
from fal_runner.key_rotation import KeyRotation


class InputUploader:
    def __init__(
        self,
        media: MediaStore,
        client: FalClient,
        keys: KeyRotation,
        limits: ImageLimits,
        decoding: PixelBudget,
    ) -> None:
        self._media = media
        self._client = client
        self._keys = keys
        self._limits = limits
        self._decoding = decoding

    async def upload_all(
        self, job: JobRequest, *, png_only: bool, max_bytes: int, deadline: float
    ) -> list[str]:
        """URLs of the job's inputs in order; raises ``ImageRejected``, ``MediaNotFound``, ``FalError``.

        An input the gateway already fitted to ``png_only`` and ``max_bytes`` (by this same
        ``prepare_upload``) is sent byte for byte.
        """
        inputs = await self._media.get_inputs(job.inputs, job.user_id, self._limits)
        return list(
            await asyncio.gather(
                *(
                    self._upload(job, index, data, info, png_only, max_bytes, deadline)
                    for index, (data, info) in enumerate(inputs)
                )
            )
        )

    async def _upload(
        self,
        job: JobRequest,
        index: int,
        data: bytes,
        info: ImageInfo,
        png_only: bool,
        max_bytes: int,
        deadline: float,
    ) -> str:
        pixels = info.width * info.height
        prepared = await self._decoding.run(
            pixels, prepare_upload, data, require_png=png_only, max_bytes=max_bytes
        )
        name = f"{job.job_id}-{index}.{prepared.extension}"
        while True:
            # CDN uploads do not count against a key's concurrency: any key in rotation will do.
            key = self._keys.pick()
            try:
                return await self._client.upload(key, prepared.data, prepared.content_type, name, deadline)
            except FalError as error:
                if not self._keys.try_another(key, error):
                    raise
