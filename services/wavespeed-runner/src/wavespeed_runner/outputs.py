"""The result image: downloaded from WaveSpeed, made PNG if it is not, stored in ``media``.

The name is ``results/<job_id>/0.png``, so a job that runs again overwrites rather than piles up.
"""

from __future__ import annotations

from medialab_contracts.events import FailureReason, MediaOutput
from medialab_runtime.images import ImageRejected
from medialab_runtime.media_store import MediaStore
from medialab_runtime.result_images import store_png_result
from pydantic import ValidationError

from wavespeed_runner.api import WaveSpeedClient
from wavespeed_runner.errors import WaveSpeedRejected


def result_name(job_id: str, index: int = 0) -> str:
    return f"results/{job_id}/{index}.png"


class OutputStore:
    def __init__(self, media: MediaStore, client: WaveSpeedClient) -> None:
        self._media = media
        self._client = client

    async def store(self, job_id: str, reference: str, deadline: float) -> MediaOutput:
        """Raises ``WaveSpeedError`` when the output cannot be fetched or is not an image."""
        data = await self._client.download(reference, deadline)
        try:
            return await store_png_result(self._media, result_name(job_id), data, file_name=f"{job_id}.png")
        except ImageRejected as error:
            raise WaveSpeedRejected(200, FailureReason.provider_error, f"output: {error}") from None

    async def recorded(self, raw: object) -> MediaOutput | None:
        """The output an earlier delivery stored (from job state), if it is still in ``media``."""
        try:
            output = MediaOutput.model_validate(raw)
        except ValidationError:
            return None
        return output if await self._media.exists(output.object_name) else None
