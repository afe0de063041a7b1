"""A provider's output becomes a PNG result in ``media``, or a clear rejection."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import nats
import pytest
from medialab_runtime.images import ImageRejected
from medialab_runtime.media_store import MediaNotFound, MediaStore
from medialab_runtime.provisioning import ensure_layout
from medialab_runtime.result_images import store_png_result
from PIL import Image


@pytest.fixture
async def media(nats_url: str) -> AsyncIterator[MediaStore]:
    nc = await nats.connect(nats_url)
    await ensure_layout(nc.jetstream())
    yield await MediaStore.open(nc.jetstream())
    await nc.close()


def jpeg(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 140, 90)).save(buffer, format="JPEG")
    return buffer.getvalue()


async def test_an_output_is_stored_as_png_with_its_size(media: MediaStore) -> None:
    output = await store_png_result(media, "results/j1/0.png", jpeg((48, 32)), file_name="j1-0.png")
    assert (output.object_name, output.content_type, output.file_name) == (
        "results/j1/0.png",
        "image/png",
        "j1-0.png",
    )
    assert (output.width, output.height) == (48, 32)
    stored = await media.get("results/j1/0.png")
    assert output.size_bytes == len(stored)
    with Image.open(io.BytesIO(stored)) as image:
        assert (image.format, image.size) == ("PNG", (48, 32))


async def test_an_output_that_is_not_an_image_is_rejected_and_not_stored(media: MediaStore) -> None:
    with pytest.raises(ImageRejected):
        await store_png_result(media, "results/j2/0.png", b"<html>not an image</html>", file_name="j2-0.png")
    with pytest.raises(MediaNotFound):
        await media.get("results/j2/0.png")
