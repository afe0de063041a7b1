"""Input images: from the ``media`` store, through the shared image rules, onto WaveSpeed's storage.

WaveSpeed gets our own uploaded copies (never a Telegram URL); ``images.prepare_upload`` validates
each one (not an image, corrupt, bomb), turns EXIF-rotated photos upright and recompresses anything
over 4 MB.
"""

from __future__ import annotations

import asyncio

from medialab_contracts.jobs import JobRequest
from medialab_runtime.decoding import PixelBudget
from medialab_runtime.images import ImageInfo, ImageLimits, prepare_upload
from medialab_runtime.media_store import MediaStore

from wavespeed_runner.api import WaveSpeedClient


class InputUploader:
    def __init__(
        self, media: MediaStore, client: WaveSpeedClient, limits: ImageLimits, decoding: PixelBudget
    ) -> None:
        self._media = media
        self._client = client
        self._limits = limits
        self._decoding = decoding

    async def upload_all(self, job: JobRequest, deadline: float) -> list[str]:
        """URLs of the job's inputs, in the job's order.

        Raises ``ImageRejected``, ``MediaNotFound`` or ``WaveSpeedError``.
        """
        inputs = await self._media.get_inputs(job.inputs, job.user_id, self._limits)
        return list(
            await asyncio.gather(*(self._upload(job, i, d, n, deadline) for i, (d, n) in enumerate(inputs)))
        )

    async def _upload(
        self, job: JobRequest, index: int, data: bytes, info: ImageInfo, deadline: float
    ) -> str:
        prepared = await self._decoding.run(info.width * info.height, prepare_upload, data)
        name = f"{job.job_id}-{index}.{prepared.extension}"
        return await self._client.upload(prepared.data, prepared.content_type, name, deadline)
