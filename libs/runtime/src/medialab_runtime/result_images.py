"""A provider's output image, made PNG and put in ``media`` as a job's result."""

from __future__ import annotations

import asyncio

from medialab_contracts.events import MediaOutput

from medialab_runtime.images import to_png
from medialab_runtime.media_store import MediaStore


async def store_png_result(media: MediaStore, name: str, data: bytes, *, file_name: str) -> MediaOutput:
    """Raises ``ImageRejected`` when ``data`` is not a usable image; the caller says whose fault that is.

    The conversion runs in a thread: decoding a large image would otherwise stall every other job.
    """
    png = await asyncio.to_thread(to_png, data)
    ref = await media.put(
        name, png.data, "image/png", width=png.width, height=png.height, file_name=file_name
    )
    return MediaOutput(**ref.model_dump(exclude={"width", "height"}), width=png.width, height=png.height)
