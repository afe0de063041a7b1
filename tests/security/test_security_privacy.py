"""/delete_me leaves no file or prompt of the user, keeps every kopeck, and leaves others alone.

Two users each edit a photo on the whole stack (billing real, fal emulated), so each has a kept work
(«🖼 Мои работы»: a record in KV ``works``, copies of its result and input in the object store
``kept``); the first also leaves a draft with an uploaded photo. After the first one's /delete_me, the
object stores, the gateway's KV buckets and billing's PostgreSQL are read directly (as the admin, as
an operator would).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import asyncpg
import httpx
import nats
import pytest
from medialab_contracts import subjects
from medialab_runtime.kv_keys import keys_matching
from medialab_sandbox.telegram import TelegramUserClient
from medialab_testkit.e2e import Stack, contains, fal_and_gateway, press, reply, running_stack, wait_document
from nats.js.errors import NotFoundError
from PIL import Image

pytestmark = pytest.mark.e2e

KV_BUCKETS = (subjects.FSM_BUCKET, subjects.GATEWAY_BUCKET, subjects.ALBUMS_BUCKET, subjects.WORKS_BUCKET)
OBJECT_STORES = (subjects.MEDIA_BUCKET, subjects.UPLOADS_BUCKET, subjects.KEPT_BUCKET)


def photo(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("privacy"), postgres_admin_url, fal_and_gateway()) as stack:
        yield stack


async def edit_photo(user: TelegramUserClient, image: bytes, prompt: str) -> None:
    await user.send_text("✏️ Изменить")
    models = await reply(user, lambda m: bool(m.reply_markup))
    await press(user, models, "Nano-Banana")
    await user.wait_for_message(predicate=contains("Отправьте от 1 до 4"), timeout=10)
    await user.send_document(image, file_name="me.png", mime_type="image/png")
    await reply(user, contains("Изображений загружено: 1 из 4"))
    await user.send_text(prompt)
    await wait_document(user)
    await reply(user, contains("готово"))


async def leave_a_draft(user: TelegramUserClient, image: bytes) -> None:
    """A second ✏️ Изменить with a photo and no prompt."""
    await user.send_text("✏️ Изменить")
    models = await reply(user, contains("Выберите модель"))
    await press(user, models, "Nano-Banana")
    await user.wait_for_message(
        predicate=contains("Отправьте от 1 до 4"), after=models.message_id - 1, timeout=10
    )
    await user.send_document(image, file_name="draft.png", mime_type="image/png")
    await reply(user, contains("Изображений загружено: 1 из 4"))


class Stores:
    """What the bus keeps, read as the admin: object names and every KV key with its value."""

    def __init__(self, nc: nats.NATS) -> None:
        self._js = nc.jetstream()

    async def objects(self) -> set[str]:
        """``<bucket>:<name>`` of every object in ``media``, ``uploads`` and ``kept`` (one name may be in
        several: an upload a job took is in ``uploads`` and ``media``, a kept result in ``media`` and
        ``kept``)."""
        names: set[str] = set()
        for bucket in OBJECT_STORES:
            store = await self._js.object_store(bucket)
            try:
                names.update(f"{bucket}:{info.name}" for info in await store.list(ignore_deletes=True))
            except NotFoundError:
                pass
        return names

    async def kept_work(self, user_id: int, timeout: float = 30) -> None:
        """Wait until a work of the user is kept. The result's caption («…готово») goes out before it is
        kept, and its record is written after its copies in ``kept``: once it is there, all of it is."""
        kv = await self._js.key_value(subjects.WORKS_BUCKET)
        watcher = await kv.watch(f"work.{user_id}.*")
        try:
            async with asyncio.timeout(timeout):
                async for entry in watcher:
                    if entry is not None and entry.value:
                        return
        finally:
            await watcher.stop()

    async def records(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for bucket in KV_BUCKETS:
            kv = await self._js.key_value(bucket)
            for key in await keys_matching(kv, ">"):
                entry = await kv.get(key)
                found[f"{bucket}:{key}"] = (entry.value or b"").decode(errors="replace")
        return found


async def money(database_url: str, user_id: int) -> tuple[object, ...]:
    conn = await asyncpg.connect(database_url)
    try:
        ledger = await conn.fetch(
            "SELECT kind, delta_balance, delta_reserved FROM ledger WHERE user_id = $1 ORDER BY id", user_id
        )
        account = await conn.fetchrow("SELECT balance, reserved FROM accounts WHERE user_id = $1", user_id)
        return tuple(map(tuple, ledger)), tuple(account or ())
    finally:
        await conn.close()


async def stored_jobs(database_url: str, user_id: int) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT job::text AS job FROM operations WHERE user_id = $1", user_id)
        names = await conn.fetchrow("SELECT username, first_name FROM users WHERE user_id = $1", user_id)
        return [row["job"] for row in rows if row["job"] is not None] + [n for n in names or () if n]
    finally:
        await conn.close()


async def test_delete_me_leaves_no_file_or_prompt_and_keeps_the_ledger(stack: Stack) -> None:
    nc = await nats.connect(stack.nats_url)
    stores = Stores(nc)
    mine, theirs = "замени небо на закат над морем", "добавь радугу над крышей"
    try:
        async with stack.user(first_name="Другой") as other:
            await edit_photo(other, photo((10, 200, 30)), theirs)
        await stores.kept_work(other.user_id)
        others_objects = await stores.objects()
        async with stack.user(first_name="Анна", username="anna_private") as user:
            await edit_photo(user, photo((200, 30, 10)), mine)
            await stores.kept_work(user.user_id)
            await leave_a_draft(user, photo((90, 90, 200)))
            user_objects = await stores.objects() - others_objects
            assert any(name.startswith(f"{subjects.MEDIA_BUCKET}:results/") for name in user_objects)
            uploads = f"{subjects.UPLOADS_BUCKET}:uploads/{user.user_id}/"
            assert len([name for name in user_objects if name.startswith(uploads)]) == 2
            # The result is kept for «🖼 Мои работы» with its input; its record holds the prompt.
            kept = f"{subjects.KEPT_BUCKET}:"
            assert any(name.startswith(f"{kept}results/") for name in user_objects)
            assert any(name.startswith(f"{kept}uploads/{user.user_id}/") for name in user_objects)
            records = await stores.records()
            work = f"{subjects.WORKS_BUCKET}:work.{user.user_id}."
            assert [v for k, v in records.items() if k.startswith(work) and mine in v]
            others_work = f"{subjects.WORKS_BUCKET}:work.{other.user_id}."
            assert [v for k, v in records.items() if k.startswith(others_work) and theirs in v]
            assert any(name.startswith(f"{kept}uploads/{other.user_id}/") for name in others_objects)
            assert any(mine in value for value in records.values())  # the prompt is stored before
            assert any(mine in job for job in await stored_jobs(stack.database_url, user.user_id))
            money_before = await money(stack.database_url, user.user_id)
            others_money = await money(stack.database_url, other.user_id)
            others_records = {k: v for k, v in records.items() if theirs in v or str(other.user_id) in k}

            await user.send_command("delete_me")
            question = await reply(user, contains("Удалить ваши данные?"))
            await press(user, question, "Да, удалить")
            await user.wait_for_message(predicate=contains("удалены, баланс сохранён"), timeout=20)

            left = await stores.objects()
            assert not left & user_objects, left & user_objects
            assert others_objects <= left
            records = await stores.records()
            names = {name.split(":", 1)[1] for name in user_objects}
            leaks = {k: v for k, v in records.items() if mine in v or any(n in v for n in names)}
            assert not leaks, leaks
            assert not [k for k in records if k.startswith(work)]
            assert not [name for name in left if name.startswith(kept) and name.split(":", 1)[1] in names]
            assert not [
                k
                for k in records
                if k.startswith(f"{subjects.FSM_BUCKET}:") and k.endswith(f".{user.user_id}")
            ]
            assert await stored_jobs(stack.database_url, user.user_id) == []
            assert await money(stack.database_url, user.user_id) == money_before
            # The other user's files, records, prompt and money are as they were.
            assert await money(stack.database_url, other.user_id) == others_money
            assert {k: records.get(k) for k in others_records} == others_records
            assert any(theirs in job for job in await stored_jobs(stack.database_url, other.user_id))

            # The bot still serves the user: the balance is the one they had.
            await user.send_command("balance")
            await reply(user, contains("Доступно"))
            # The gateway did all of it with its own NATS user's permissions.
            assert stack.nats.violations() == []
    finally:
        await nc.close()


async def test_delete_me_waits_for_a_running_job_and_cancel_keeps_everything(stack: Stack) -> None:
    async with httpx.AsyncClient() as client:
        slow = await client.post(f"{stack.fal_url}/_emu/faults/slow", json={"run_seconds": 8})
        slow.raise_for_status()
    nc = await nats.connect(stack.nats_url)
    stores = Stores(nc)
    try:
        async with stack.user() as user:
            await user.send_text("✏️ Изменить")
            models = await reply(user, lambda m: bool(m.reply_markup))
            await press(user, models, "Nano-Banana")
            await user.wait_for_message(predicate=contains("Отправьте от 1 до 4"), timeout=10)
            await user.send_document(photo((1, 2, 3)), file_name="me.png", mime_type="image/png")
            await reply(user, contains("Изображений загружено: 1 из 4"))
            await user.send_text("сделай фон синим")
            await reply(user, contains("задача принята"))
            uploaded = await stores.objects()
            assert any(
                name.startswith(f"{subjects.UPLOADS_BUCKET}:uploads/{user.user_id}/") for name in uploaded
            )

            await user.send_command("delete_me")
            question = await reply(user, contains("Удалить ваши данные?"))
            await press(user, question, "Да, удалить")
            await user.wait_for_message(predicate=contains("Дождитесь результата"), timeout=20)
            assert await stores.objects() >= uploaded
            assert any(
                "сделай фон синим" in job for job in await stored_jobs(stack.database_url, user.user_id)
            )

            await wait_document(user, timeout=40)
            await user.send_command("delete_me")
            question = await reply(user, contains("Удалить ваши данные?"))
            await press(user, question, "Отмена")
            await user.wait_for_message(predicate=contains("Удаление отменено"), timeout=20)
            assert await stores.objects() >= uploaded
    finally:
        await nc.close()
