"""Storage bounded (issue 17 item 4): one free user cannot fill the object store with uploads.

40 photos, 6.4 MB each, used to be kept for 7 days before any check. Now each upload counts against
the user's hourly quotas, files (UPLOADS_PER_HOUR, 30 by default) and bytes (UPLOAD_BYTES_PER_HOUR,
200 MB by default, from Telegram's file_size), before it is downloaded, is stored only after its
checks, in the ``uploads`` bucket whose TTL drops it within the hour unless a job takes it, and every
bucket and stream is capped in bytes. The gateway runs as its own process with its own NATS user.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Iterator

import nats
import pytest
from medialab_contracts import subjects
from medialab_sandbox.telegram import TelegramUserClient
from medialab_testkit.e2e import Stack, contains, press, reply, running_stack
from PIL import Image

pytestmark = pytest.mark.e2e

# The attack was 40 uploads against the default quota of 30; a quota of 10 and 14 uploads
# prove the same bound at a third of the time (the bot answers each upload, at 1 message per second).
UPLOADS = 14
PER_HOUR = 10
# The byte quota at its floor (1 MiB; the gateway's MAX_IMAGE_BYTES lowered to match): three photos of
# 400 KB, and the third does not fit.
BYTES_PER_HOUR = 1024 * 1024


def photo(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (seed * 6 % 256, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def noise_photo(size: int) -> bytes:
    """A PNG of about ``size`` bytes (noise does not compress)."""
    side = int((size / 3) ** 0.5)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    def build(stack: Stack) -> None:
        stack.launch("billing")
        # The inbound rate raised, so the quick messages are all taken (answers still go at 1 per second).
        stack.launch(
            "gateway-bot",
            INBOUND_BURST="100",
            INBOUND_PER_S="50",
            UPLOADS_PER_HOUR=str(PER_HOUR),
            UPLOAD_BYTES_PER_HOUR=str(BYTES_PER_HOUR),
            MAX_IMAGE_BYTES=str(BYTES_PER_HOUR),
        )

    with running_stack(tmp_path_factory.mktemp("storage"), postgres_admin_url, build) as stack:
        yield stack


async def start_edit(user: TelegramUserClient) -> None:
    await user.send_text("✏️ Изменить")
    models = await reply(user, lambda m: bool(m.reply_markup))
    await press(user, models, "Nano-Banana")
    await user.wait_for_message(predicate=contains("Отправьте от 1 до 4"), timeout=10)


async def test_uploads_over_the_hourly_quota_are_refused_and_storage_stays_bounded(stack: Stack) -> None:
    async with stack.user() as user:
        await start_edit(user)
        for n in range(UPLOADS):
            await user.send_document(photo(n), file_name=f"{n}.png", mime_type="image/png")
        await reply(user, contains("Лимит загрузок исчерпан"), timeout=30)
        async with asyncio.timeout(120):
            while True:
                texts = [m.text or "" for m in await user.bot_messages()]
                answered = [t for t in texts if "Лимит загрузок" in t or "Изображений загружено" in t]
                if len(answered) + sum("Можно не больше 4" in t for t in texts) >= UPLOADS:
                    break
                await asyncio.sleep(1)
        quota_messages = [t for t in texts if "Лимит загрузок исчерпан" in t]
        assert len(quota_messages) == UPLOADS - PER_HOUR
        assert f"не больше {PER_HOUR} изображений в час" in quota_messages[0]
        user_id = user.user_id

    admin = await nats.connect(stack.nats_url)
    try:
        js = admin.jetstream()
        uploads = await js.object_store(subjects.UPLOADS_BUCKET)
        stored = [o for o in await uploads.list() if o.name.startswith(f"uploads/{user_id}/")]
        assert len(stored) == PER_HOUR  # what passed the quota, nothing more
        config = (await js.stream_info(f"OBJ_{subjects.UPLOADS_BUCKET}")).config
        assert config.max_age is not None and config.max_age <= 3600  # expire within the hour
        assert config.max_bytes is not None and config.max_bytes > 0
        media = (await js.stream_info(f"OBJ_{subjects.MEDIA_BUCKET}")).config
        assert media.max_bytes is not None and media.max_bytes > 0
        assert (await js.stream_info(f"OBJ_{subjects.MEDIA_BUCKET}")).state.messages == 0  # no job took any
    finally:
        await admin.close()


async def test_uploads_over_the_hourly_bytes_are_refused_before_the_download(stack: Stack) -> None:
    photos = [noise_photo(400_000) for _ in range(3)]
    async with stack.user() as user, stack.control() as control:
        await start_edit(user)
        for n, data in enumerate(photos[:2], start=1):
            await user.send_document(data, file_name=f"{n}.png", mime_type="image/png")
            await reply(user, contains(f"Изображений загружено: {n} из 4"), timeout=20)
        downloads = sum(r.method == "getFile" for r in await control.requests())
        await user.send_document(photos[2], file_name="3.png", mime_type="image/png")
        refusal = await reply(user, contains("Лимит загрузок по объёму исчерпан"), timeout=20)
        assert "не больше 1 МБ изображений в час" in (refusal.text or "")
        assert "уже загружено 0.8 МБ" in (refusal.text or "")
        assert "Лимит обновится через" in (refusal.text or "")
        assert sum(r.method == "getFile" for r in await control.requests()) == downloads  # not fetched
        user_id = user.user_id

    admin = await nats.connect(stack.nats_url)
    try:
        uploads = await admin.jetstream().object_store(subjects.UPLOADS_BUCKET)
        stored = [o for o in await uploads.list() if o.name.startswith(f"uploads/{user_id}/")]
        assert len(stored) == 2
    finally:
        await admin.close()
