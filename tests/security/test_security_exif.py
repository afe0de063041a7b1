"""No metadata leaves for a provider: GPS and camera EXIF are gone from what fal receives.

A user sends a photo as a document (Telegram keeps its bytes, EXIF included) to ✏️ Изменить; the
fal emulator's record of the submit gives the URL of the uploaded input, whose bytes must carry the
pixels only. Whole stack: billing real, providers emulated.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from medialab_testkit.e2e import Stack, contains, fal_and_gateway, press, reply, running_stack, wait_document
from PIL import Image

pytestmark = pytest.mark.e2e

GPS_IFD = 0x8825
MAKE, MODEL, ORIENTATION = 0x010F, 0x0110, 0x0112


def photo_with_gps() -> bytes:
    exif = Image.Exif()
    exif[MAKE] = "PrivateCam"
    exif[MODEL] = "Serial-12345"
    exif[ORIENTATION] = 1  # upright, small, JPEG: such a photo used to be sent byte-identical
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (55.0, 45.0, 21.0), 3: "E", 4: (37.0, 37.0, 4.0)})
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (30, 120, 200)).save(buffer, format="JPEG", quality=90, exif=exif)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("exif"), postgres_admin_url, fal_and_gateway()) as stack:
        yield stack


async def test_gps_and_camera_exif_never_reach_the_provider(stack: Stack) -> None:
    photo = photo_with_gps()
    with Image.open(io.BytesIO(photo)) as sent:
        assert sent.getexif().get_ifd(GPS_IFD)  # the test's photo does carry GPS
    async with stack.user() as user:
        await user.send_text("✏️ Изменить")
        models = await reply(user, lambda m: bool(m.reply_markup))
        await press(user, models, "Nano-Banana")
        await user.wait_for_message(predicate=contains("Отправьте от 1 до 4"), timeout=10)
        await user.send_document(photo, file_name="IMG_0001.jpg", mime_type="image/jpeg")
        await reply(user, contains("Изображений загружено: 1 из 4"))
        await user.send_text("добавь радугу на небо")
        await wait_document(user)
    async with httpx.AsyncClient() as client:
        submits = (
            await client.get(f"{stack.fal_url}/_emu/submits", params={"model": "fal-ai/nano-banana/edit"})
        ).json()
        (submit,) = submits
        (url,) = submit["body"]["image_urls"]
        received = (await client.get(url)).content
    assert b"PrivateCam" not in received and b"Serial-12345" not in received
    with Image.open(io.BytesIO(received)) as image:
        exif = image.getexif()
        assert not exif.get_ifd(GPS_IFD) and MAKE not in exif and MODEL not in exif
        assert "exif" not in image.info
        assert image.size == (96, 64)
