"""Result images: downloaded from fal, made PNG (WebP and JPEG converted), stored in ``media``.

Names are ``results/<job_id>/<n>.png``, so a job that runs again overwrites rather than piles up.
"""

from __future__ import annotations

import asyncio
from typing import Any

from medialab_contracts.events import FailureReason, MediaOutput
from medialab_runtime.images import ImageRejected
from medialab_runtime.media_store import MediaStore
from medialab_runtime.result_images import store_png_result

from fal_runner.fal_api import FalClient, FalRejected


def output_urls(body: dict[str, Any]) -> list[str]:
    """Image URLs of a model's output: ``{"images": [...]}`` or ``{"image": {...}}`` (fal.md §9)."""
    files = body.get("images")
    if not isinstance(files, list):
        files = [body.get("image")]
    return [str(item["url"]) for item in files if isinstance(item, dict) and isinstance(item.get("url"), str)]


def safe_output_urls(body: dict[str, Any]) -> list[str]:
    """The output URLs minus those ``has_nsfw_concepts`` flags: fal blanks a flagged image."""
    urls = output_urls(body)
    flags = body.get("has_nsfw_concepts")
    if not isinstance(flags, list) or len(flags) != len(urls):
        return urls
    return [url for url, flagged in zip(urls, flags, strict=True) if flagged is not True]


def result_name(job_id: str, index: int) -> str:
    return f"results/{job_id}/{index}.png"


class OutputStore:
    def __init__(self, media: MediaStore, client: FalClient) -> None:
        self._media = media
        self._client = client

    async def store_all(self, job_id: str, body: dict[str, Any], deadline: float) -> list[MediaOutput]:
        if not output_urls(body):
            raise FalRejected(200, FailureReason.provider_error, "the result has no images")
        urls = safe_output_urls(body)
        if not urls:
            raise FalRejected(200, FailureReason.moderation, "every image was flagged has_nsfw_concepts")
        return list(
            await asyncio.gather(*(self._store(job_id, i, url, deadline) for i, url in enumerate(urls)))
        )

    async def _store(self, job_id: str, index: int, url: str, deadline: float) -> MediaOutput:
        data = await self._client.download(url, deadline)
        try:
            return await store_png_result(
                self._media, result_name(job_id, index), data, file_name=f"{job_id}-{index}.png"
            )
        except ImageRejected as error:
            raise FalRejected(200, FailureReason.provider_error, f"output {index}: {error}") from None
