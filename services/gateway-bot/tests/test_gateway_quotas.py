"""Per-user upload quotas over a real NATS KV: files and bytes per clock hour, shared by replicas.

The bytes are counted from Telegram's ``file_size`` before the download (a file that does not fit is
never fetched), or after it when Telegram gave no size; the intake tests take real files from the
Telegram emulator and store them in the real ``uploads`` bucket.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
from collections.abc import AsyncIterator

import nats
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from gateway_bot import texts
from gateway_bot.failures import UploadBytesQuotaReached, UploadQuotaReached
from gateway_bot.flows.intake import ImageIntake, Upload, upload_of
from gateway_bot.storage.quotas import UploadQuota
from gateway_bot.storage.records import open_gateway_bucket
from medialab_contracts import subjects
from medialab_runtime.decoding import PixelBudget
from medialab_runtime.images import ImageLimits
from medialab_runtime.media_store import MediaStore
from medialab_runtime.provisioning import ensure_layout
from medialab_sandbox.telegram import EmulatorConfig, RateLimitConfig, TelegramEmulator
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from PIL import Image

MB = 1024 * 1024
HOUR = 3600
# 50 minutes into an hour: the quota renews in 10 minutes.
NOW = 480_000 * HOUR + 50 * 60


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_layout(js)
    yield js
    await nc.close()


@pytest.fixture
async def kv(js: JetStreamContext) -> KeyValue:
    return await open_gateway_bucket(js, 7 * 24 * HOUR)


async def test_a_file_over_the_bytes_left_is_refused_named_and_not_counted(kv: KeyValue) -> None:
    clock = Clock()
    quota = UploadQuota(kv, per_hour=30, bytes_per_hour=100, clock=clock)
    await quota.take(1, 60)
    with pytest.raises(UploadBytesQuotaReached) as refused:
        await quota.take(1, 50)
    assert (refused.value.limit_bytes, refused.value.used_bytes, refused.value.retry_in_min) == (100, 60, 10)
    await quota.take(1, 40)  # the refused file took nothing: exactly the 40 bytes left fit
    with pytest.raises(UploadBytesQuotaReached):
        await quota.take(1, 1)

    # Another user has a quota of their own; a replica reads the same numbers.
    await quota.take(2, 100)
    replica = UploadQuota(kv, per_hour=30, bytes_per_hour=100, clock=clock)
    with pytest.raises(UploadBytesQuotaReached):
        await replica.take(1, 1)

    # The next clock hour starts from nothing.
    clock.now += 10 * 60
    await quota.take(1, 100)


async def test_the_file_count_still_holds_and_a_refusal_by_bytes_spends_no_file(kv: KeyValue) -> None:
    quota = UploadQuota(kv, per_hour=2, bytes_per_hour=100, clock=Clock())
    await quota.take(1, 10)
    with pytest.raises(UploadBytesQuotaReached):
        await quota.take(1, 95)
    await quota.take(1, 10)
    with pytest.raises(UploadQuotaReached) as refused:
        await quota.take(1, 1)
    assert refused.value.per_hour == 2


async def test_an_older_gateways_bare_count_is_read_as_files(kv: KeyValue) -> None:
    clock = Clock()
    await kv.put(f"quota.uploads.3.{int(clock() // HOUR)}", b"2")
    quota = UploadQuota(kv, per_hour=3, bytes_per_hour=100, clock=clock)
    await quota.take(3, 100)
    with pytest.raises(UploadQuotaReached):
        await quota.take(3, 0)


async def test_concurrent_uploads_on_two_replicas_never_pass_the_bytes(nats_url: str, kv: KeyValue) -> None:
    other = await nats.connect(nats_url)  # another gateway process: its own connection
    try:
        other_kv = await open_gateway_bucket(other.jetstream(), 7 * 24 * HOUR)
        replicas = [UploadQuota(b, per_hour=100, bytes_per_hour=100, clock=Clock()) for b in (kv, other_kv)]

        async def upload(n: int) -> bool:
            try:
                await replicas[n % 2].take(4, 10)
            except UploadBytesQuotaReached:
                return False
            return True

        taken = await asyncio.gather(*(upload(n) for n in range(25)))
    finally:
        await other.close()
    assert sum(taken) == 10


async def test_bytes_unknown_before_the_download_are_counted_after_it(kv: KeyValue) -> None:
    quota = UploadQuota(kv, per_hour=30, bytes_per_hour=100, clock=Clock())
    await quota.take(5, None)
    await quota.add_bytes(5, 90)
    await quota.take(5, None)
    with pytest.raises(UploadBytesQuotaReached) as refused:
        await quota.add_bytes(5, 20)
    assert refused.value.used_bytes == 90
    await quota.take(5, 10)  # the refused 20 bytes were not counted
    with pytest.raises(UploadBytesQuotaReached):
        await quota.take(5, None)  # no room left for a file of any size


def test_the_refusal_names_the_limit_what_is_used_and_when_it_renews() -> None:
    text = texts.upload_bytes_quota_reached(200 * MB, 190 * MB + 1, 12)
    assert "не больше 200 МБ" in text and "уже загружено 190 МБ" in text and "через 12 мин." in text
    with texts.use_locale("en"):
        text = texts.upload_bytes_quota_reached(200 * MB, 190 * MB + 1, 12)
    assert "at most 200 MB" in text and "190 MB were uploaded" in text and "renews in 12 min" in text


# ----- the intake: Telegram's file_size decides before the download -----------------------------------


def noise_png(size: int) -> bytes:
    """A PNG of about ``size`` bytes (noise does not compress)."""
    side = int((size / 3) ** 0.5)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
async def emulator() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(config=EmulatorConfig(rate_limits=RateLimitConfig(enabled=False))) as emu:
        yield emu


@pytest.fixture
async def bot(emulator: TelegramEmulator) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))
    yield Bot(emulator.token, session=session)
    await session.close()


async def sent_by_user(emulator: TelegramEmulator, bot: Bot, files: list[bytes]) -> list[Upload]:
    """What the gateway reads from the updates of a user sending ``files`` as documents."""
    async with emulator.user(user_id=77) as user:
        for n, data in enumerate(files):
            await user.send_document(data, f"{n}.png", mime_type="image/png")
    updates = await bot.get_updates(timeout=0)
    uploads = [upload_of(update.message) for update in updates if update.message is not None]
    assert len(uploads) == len(files) and all(u is not None for u in uploads)
    return [u for u in uploads if u is not None]


def get_files(emulator: TelegramEmulator) -> int:
    return sum(r.method == "getFile" for r in emulator.requests)


async def stored(js: JetStreamContext, owner: int) -> list[str]:
    store = await js.object_store(subjects.UPLOADS_BUCKET)
    return [info.name for info in await store.list() if info.name.startswith(f"uploads/{owner}/")]


async def test_the_intake_refuses_a_file_over_the_bytes_left_without_downloading_it(
    js: JetStreamContext, kv: KeyValue, emulator: TelegramEmulator, bot: Bot
) -> None:
    files = [noise_png(400_000) for _ in range(3)] + [noise_png(300)]
    first, second, third, small = await sent_by_user(emulator, bot, files)
    assert all(u.file_size is not None for u in (first, second, third))
    uploads = await MediaStore.open(js, bucket=subjects.UPLOADS_BUCKET)
    quota = UploadQuota(kv, per_hour=30, bytes_per_hour=MB, clock=Clock())
    intake = ImageIntake(uploads, ImageLimits(20 * MB, 50_000_000, 40 * MB), quota, PixelBudget(50_000_000))
    limit = 20 * MB

    await intake.accept(bot, first, 77, limit)
    await intake.accept(bot, second, 77, limit)
    assert get_files(emulator) == 2
    with pytest.raises(UploadBytesQuotaReached) as refused:
        await intake.accept(bot, third, 77, limit)
    assert refused.value.used_bytes == len(files[0]) + len(files[1])
    assert get_files(emulator) == 2  # refused from Telegram's metadata: never downloaded
    assert len(await stored(js, 77)) == 2

    # Without a file_size the bytes are counted once downloaded, and a file that does not fit is not stored.
    await intake.accept(bot, dataclasses.replace(small, file_size=None), 77, limit)
    assert len(await stored(js, 77)) == 3
    with pytest.raises(UploadBytesQuotaReached):
        await intake.accept(bot, dataclasses.replace(third, file_size=None), 77, limit)
    assert get_files(emulator) == 4
    assert len(await stored(js, 77)) == 3
