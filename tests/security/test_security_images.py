"""Bounded inputs and private uploads (issue 17 items 3 and 5) against the whole stack.

The gateway and fal-runner run as their own processes on a nats-server with the production
permissions, billing on a real PostgreSQL, fal emulated. Peak memory is each process's own high-water
mark (``VmHWM`` in ``/proc/<pid>/status``), read after the attack.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest
from medialab_contracts import subjects
from medialab_contracts.billing import BalanceView, EnsureUserRequest, ReserveReply, ReserveRequest
from medialab_contracts.catalog import default_catalog
from medialab_contracts.events import FailureReason, JobFailed
from medialab_contracts.media import upload_name
from medialab_contracts.modes import Mode
from medialab_runtime.media_store import MediaStore
from medialab_runtime.nats_conn import inbox_prefix
from medialab_runtime.rpc import call
from medialab_sandbox.telegram import TelegramUserClient
from medialab_sandbox.telegram.client import AlbumItem
from medialab_testkit.e2e import Stack, contains, fal_and_gateway, press, reply, running_stack
from PIL import Image

pytestmark = pytest.mark.e2e

RSS_LIMIT_BYTES = 400 * 1024 * 1024


def peak_rss(pid: int | None) -> int:
    assert pid is not None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 140, 200)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    # A small album budget, so three small pictures show the album counted as a whole.
    build = fal_and_gateway(gateway_env={"MAX_IMAGE_PIXELS": "5000000"})
    with running_stack(tmp_path_factory.mktemp("images"), postgres_admin_url, build) as stack:
        yield stack


async def _open_edit(user: TelegramUserClient) -> None:
    await user.send_text("✏️ Изменить")
    models = await reply(user, lambda m: bool(m.reply_markup))
    await press(user, models, "Nano-Banana")
    await user.wait_for_message(predicate=contains("Отправьте от 1 до 4"), timeout=10)


async def test_an_album_of_three_huge_pngs_is_refused_and_memory_stays_bounded(stack: Stack) -> None:
    huge = await asyncio.to_thread(png, (9400, 9400))  # 88 MP each: under Pillow's default guard
    gateway = stack.service("gateway-bot")
    runner = stack.service("fal-runner")
    async with stack.user() as user:
        await _open_edit(user)
        await user.send_album(
            [AlbumItem(huge, kind="document", file_name=f"{i}.png", mime_type="image/png") for i in range(3)]
        )
        refusal = await reply(user, contains("не принято"), timeout=60)
        assert "слишком большое по разрешению" in (refusal.text or "")
    # The same album handed straight to the runner (a job queued past the gateway): refused too.
    user_id = 7003
    event = await run_as_attacker(stack, user_id, [(upload_name(user_id), huge) for _ in range(3)])
    assert event.reason == FailureReason.image_too_large, event.detail
    assert peak_rss(gateway.pid) < RSS_LIMIT_BYTES
    assert peak_rss(runner.pid) < RSS_LIMIT_BYTES
    await no_provider_call(stack)


async def test_an_album_over_the_limit_as_a_whole_is_refused(stack: Stack) -> None:
    part = png((1500, 1200))  # 1.8 MP each, 5.4 MP together against a 5 MP limit
    async with stack.user() as user:
        await _open_edit(user)
        await user.send_album([AlbumItem(part, kind="document", file_name=f"{i}.png") for i in range(3)])
        refusal = await reply(user, contains("Альбом слишком большой"), timeout=30)
        assert "5 МП" in (refusal.text or "")


async def run_as_attacker(stack: Stack, user_id: int, inputs: list[tuple[str, bytes]]) -> JobFailed:
    """Store ``inputs`` (name, bytes) and have billing queue an edit job of ``user_id`` on them, as a
    process holding the gateway's credentials could; the runner's verdict comes back as ``failed``."""
    admin = await nats.connect(stack.nats_url)
    gateway = await nats.connect(
        stack.nats.plain_url,
        user="gateway-bot",
        password=stack.nats.passwords["gateway-bot"],
        inbox_prefix=inbox_prefix("gateway-bot"),
    )
    try:
        media = await MediaStore.open(admin.jetstream())
        refs = [await media.put(name, data, "image/png") for name, data in inputs]
        failed = await admin.subscribe(subjects.event_subject("*", "failed"))
        ensure = EnsureUserRequest(user_id=user_id)
        await call(gateway, subjects.BILLING_ENSURE_USER, ensure, BalanceView, 10)
        job = (
            default_catalog()
            .by_key("nbe")
            .job(Mode.edit, user_id=user_id, chat_id=user_id, prompt="кот", inputs=refs)
        )
        await call(gateway, subjects.BILLING_RESERVE, ReserveRequest.for_job(job), ReserveReply, 10)
        event = JobFailed.model_validate_json((await failed.next_msg(timeout=60)).data)
        assert event.job_id == job.job_id
        return event
    finally:
        await gateway.close()
        await admin.close()


async def no_provider_call(stack: Stack) -> None:
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{stack.fal_url}/_emu/submits")).json() == []


async def test_another_users_upload_in_a_job_is_refused(stack: Stack) -> None:
    owner, attacker = 7001, 7002
    stolen = upload_name(owner)
    assert stolen.startswith(f"uploads/{owner}/") and len(stolen) == len(f"uploads/{owner}/") + 32
    event = await run_as_attacker(stack, attacker, [(stolen, png((64, 64)))])
    assert event.reason == FailureReason.foreign_input, event
    assert "not an upload of user" in event.detail, event.detail
    await no_provider_call(stack)
