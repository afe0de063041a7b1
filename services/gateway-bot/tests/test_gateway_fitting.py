"""Inputs fitted to their model before the job, over a real NATS (uploads and media object stores).

A PNG-only model (Recraft crisp) gets the PNG fal-runner would make of the input itself, within the
same byte budget, so the user's note names the size the provider gets and the runner sends the
bytes as they are (issue 18 item 4).
"""

from __future__ import annotations

import io
import random
import re
from collections.abc import AsyncIterator

import nats
import pytest
from gateway_bot import texts
from gateway_bot.clients.billing import BillingClient
from gateway_bot.clients.llm import LlmClient
from gateway_bot.delivery.progress import ProgressBoard
from gateway_bot.flows.launcher import JobLauncher, Order
from gateway_bot.storage.records import OrderRecords, StatusRecords, open_gateway_bucket
from medialab_contracts import subjects
from medialab_contracts.catalog import ModelSpec, default_catalog
from medialab_contracts.media import MediaRef, upload_name
from medialab_contracts.modes import Mode
from medialab_runtime.decoding import PixelBudget
from medialab_runtime.images import prepare_upload
from medialab_runtime.limits import MAX_IMAGE_PIXELS
from medialab_runtime.media_store import MediaStore
from medialab_runtime.provisioning import ensure_layout
from PIL import Image

USER = 4242
(CRISP,) = default_catalog().for_mode(Mode.upscale)
BUDGET = 4 * 1024 * 1024


class Fitting:
    def __init__(self, launcher: JobLauncher, uploads: MediaStore, media: MediaStore) -> None:
        self.launcher = launcher
        self.uploads = uploads
        self.media = media

    async def build(
        self, data: bytes, model: ModelSpec = CRISP, mode: Mode = Mode.upscale
    ) -> tuple[MediaRef, MediaRef, str | None]:
        """The upload as the gateway took it in, the job's input made of it, and the job's note."""
        with Image.open(io.BytesIO(data)) as image:
            width, height, kind = image.width, image.height, Image.MIME[image.format or ""]
        upload = await self.uploads.put(upload_name(USER), data, kind, width=width, height=height)
        order = Order(mode=mode, model=model, user_id=USER, chat_id=USER, inputs=(upload,))
        job, note = await self.launcher.build(order)
        (sent,) = job.inputs
        return upload, sent, note


@pytest.fixture
async def fitting(nats_url: str) -> AsyncIterator[Fitting]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_layout(js)
    bucket = await open_gateway_bucket(js, 600.0)
    media = await MediaStore.open(js)
    uploads = await MediaStore.open(js, bucket=subjects.UPLOADS_BUCKET)
    launcher = JobLauncher(
        BillingClient(nc, 5.0),
        LlmClient(nc, 5.0),
        ProgressBoard(StatusRecords(bucket), 2.0, 6.0),
        media,
        uploads,
        OrderRecords(bucket),
        PixelBudget(MAX_IMAGE_PIXELS),
    )
    yield Fitting(launcher, uploads, media)
    await nc.close()


def noise(size: tuple[int, int], image_format: str) -> bytes:
    """A photo-like image: random pixels, which no PNG compresses."""
    pixels = random.Random(size[0] * size[1]).randbytes(size[0] * size[1] * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(out, format=image_format, compress_level=1, quality=90)
    return out.getvalue()


def gradient(size: tuple[int, int], image_format: str) -> bytes:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    out = io.BytesIO()
    image.save(out, format=image_format)
    return out.getvalue()


def noted_size(note: str | None) -> tuple[int, int]:
    assert note is not None
    found = re.search(r"(\d+)×(\d+)", note)
    assert found is not None, note
    return int(found[1]), int(found[2])


async def stored(fitting: Fitting, ref: MediaRef) -> tuple[bytes, str, tuple[int, int]]:
    data = await fitting.media.get(ref.object_name)
    with Image.open(io.BytesIO(data)) as image:
        return data, image.format or "", image.size


async def test_a_noisy_4096_by_1024_png_is_sent_as_a_png_within_the_budget_at_the_noted_size(
    fitting: Fitting,
) -> None:
    original = noise((4096, 1024), "PNG")
    assert len(original) > 3 * BUDGET  # within Recraft's sides and pixels, not within the bytes
    _upload, sent, note = await fitting.build(original)
    data, kind, size = await stored(fitting, sent)
    assert kind == "PNG" and len(data) <= BUDGET
    assert size == noted_size(note) == (sent.width, sent.height)
    assert size[0] < 4096 and abs(size[0] / size[1] - 4) < 0.01
    assert note == texts.input_downscaled(size[0], size[1], CRISP)
    # What fal-runner does to it, by the catalog's rule: nothing.
    assert CRISP.input_png_only and CRISP.max_input_bytes == BUDGET
    assert prepare_upload(data, require_png=True, max_bytes=BUDGET).untouched


async def test_a_noisy_jpeg_becomes_a_png_within_the_budget_and_says_its_new_size(fitting: Fitting) -> None:
    _upload, sent, note = await fitting.build(noise((2000, 1500), "JPEG"))
    data, kind, size = await stored(fitting, sent)
    assert kind == "PNG" and len(data) <= BUDGET
    assert size == noted_size(note) == (sent.width, sent.height)
    assert size < (2000, 1500)


async def test_a_jpeg_whose_png_fits_is_converted_without_a_note(fitting: Fitting) -> None:
    upload, sent, note = await fitting.build(gradient((1200, 800), "JPEG"))
    data, kind, size = await stored(fitting, sent)
    assert note is None
    assert kind == "PNG" and sent.content_type == "image/png" and len(data) <= BUDGET
    assert size == (sent.width, sent.height) == (upload.width, upload.height)


async def test_a_png_that_fits_is_sent_as_it_came(fitting: Fitting) -> None:
    original = gradient((4096, 1024), "PNG")
    upload, sent, note = await fitting.build(original)
    assert note is None
    assert (sent.width, sent.height, sent.size_bytes) == (upload.width, upload.height, len(original))
    assert await fitting.media.get(sent.object_name) == original


async def test_a_model_that_takes_any_format_keeps_a_heavy_input_that_fits_its_limits(
    fitting: Fitting,
) -> None:
    """Only a PNG-only model is fitted to bytes: the others' runner keeps the pixels (JPEG first)."""
    edit = default_catalog().by_key("sde")
    assert not edit.input_png_only
    original = noise((2000, 1500), "PNG")
    upload, sent, note = await fitting.build(original, edit, Mode.edit)
    assert note is None
    assert await fitting.media.get(sent.object_name) == original
    assert (sent.width, sent.height) == (upload.width, upload.height)
