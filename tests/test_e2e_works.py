"""«🖼 Мои работы» end to end: a delivered result is kept (across a gateway restart), its original is
re-sent by file_id with no upload, 🔁 makes a new job with another seed at the full price, ✏️ starts
an edit with the result loaded, another user cannot use the buttons, /delete_me empties the gallery.
And ❌ Отменить under a job's status: while queued here it never reaches fal and costs nothing; while
running at fal the request is cancelled there and the hold released.

Billing, fal-runner and the gateway as subprocesses, a real nats-server and PostgreSQL, the Telegram
and fal emulators over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator

import httpx
import nats
import pytest
from medialab_sandbox.telegram import TelegramUserClient, TranscriptMessage
from medialab_testkit.e2e import (
    Stack,
    balance_available,
    balance_back_to,
    button_texts,
    contains,
    fal_and_gateway,
    is_document,
    press,
    reply,
    running_stack,
    text_of,
)
from nats.js.errors import NotFoundError

pytestmark = pytest.mark.e2e

NANO = "fal-ai/nano-banana"
NANO_EDIT = "fal-ai/nano-banana/edit"
PRICE = 800  # Nano-banana


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("works"), postgres_admin_url, fal_and_gateway()) as stack:
        yield stack


def stop_service(stack: Stack, name: str) -> None:
    process = stack.service(name)
    process.stop(timeout=15)
    stack.services.remove(process)


def restart_gateway(stack: Stack) -> None:
    stop_service(stack, "gateway-bot")
    stack.start_service("gateway-bot")


async def final_event(stack: Stack, job_id: str, timeout: float = 60) -> dict:
    """The job's ``failed`` event from EVENTS, once some runner published it."""
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                msg = await js.get_last_msg("EVENTS", f"events.job.{job_id}.failed")
                return json.loads(msg.data or b"{}")
            except NotFoundError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await nc.close()


async def order_image(user: TelegramUserClient, prompt: str) -> int:
    """M1 with Nano-banana, square, up to the prompt sent; the id of the step message before it."""
    await user.send_text("🎨 Создать")
    models = await reply(user, contains("Выберите модель"))
    await press(user, models, "Nano-banana")
    formats = await user.wait_for_message(predicate=contains("Выберите формат"), timeout=10)
    await press(user, formats, "Квадрат")
    await user.wait_for_message(predicate=contains("Напишите промпт"), timeout=10)
    await user.send_text(prompt)
    return models.message_id


async def start_job(user: TelegramUserClient, prompt: str) -> tuple[TranscriptMessage, str]:
    """A job held back (queued or slow): its status message (with ❌ Отменить) and its id."""
    after = await order_image(user, prompt)
    status = await user.wait_for_message(predicate=contains("задача принята"), timeout=15, after=after)
    assert button_texts(status) == ["❌ Отменить"]
    found = re.search(r"ID: ([0-9a-f]{32})", text_of(status))
    assert found, text_of(status)
    return status, found.group(1)


async def create_image(user: TelegramUserClient, prompt: str) -> TranscriptMessage:
    """The delivered document (its status message may be gone already)."""
    after = await order_image(user, prompt)
    return await user.wait_for_message(predicate=is_document, timeout=40, after=after)


async def open_works(user: TelegramUserClient) -> TranscriptMessage:
    last = max((m.message_id for m in await user.bot_messages()), default=0)
    await user.send_text("🖼 Мои работы")
    return await user.wait_for_message(predicate=contains("работы"), timeout=15, after=last)


async def test_a_kept_result_is_resent_repeated_and_edited_from_the_gallery(stack: Stack) -> None:
    async with stack.user() as user, stack.control() as control:
        before = await balance_available(user)
        delivered = await create_image(user, "рыжий кот в очках читает газету")
        assert delivered.document is not None
        file_id = delivered.document.file_id
        assert await balance_available(user) == before - PRICE

        # Kept in NATS, not in the gateway's memory: a new gateway process lists it.
        restart_gateway(stack)
        gallery = await open_works(user)
        assert "Создание · Nano-banana" in text_of(gallery)
        assert "«рыжий кот в очках читает газету»" in text_of(gallery)
        assert "(Мск)" in text_of(gallery) and "Хранится до" in text_of(gallery)
        assert button_texts(gallery) == [
            "1 · ⬇️ Оригинал",
            "1 · 🔁 Повторить",
            "1 · ✏️ Изменить",
            "1 · 🔍 Улучшить",
        ]

        # ⬇️ Оригинал: the same document, sent by file_id; the Telegram emulator saw no file upload.
        calls_before = len(await control.requests())
        await press(user, gallery, "Оригинал")
        original = await user.wait_for_message(predicate=is_document, timeout=15, after=gallery.message_id)
        assert original.document is not None and original.document.file_id == file_id
        assert "оригинал" in text_of(original)
        sent = [r for r in (await control.requests())[calls_before:] if r.method == "sendDocument"]
        assert len(sent) == 1 and sent[0].status_code == 200 and sent[0].uploaded_files == []
        assert await balance_available(user) == before - PRICE  # free

        # 🔁 Повторить: the same order through «✅ Запустить», a new seed, the full price.
        await press(user, gallery, "Повторить")
        offer = await user.wait_for_message(predicate=contains("Запустить?"), after=gallery.message_id)
        assert "Создание · Nano-banana\nСтоимость: 8 ₽." in text_of(offer)
        await press(user, offer, "Запустить")
        await user.wait_for_message(predicate=is_document, timeout=40, after=offer.message_id)
        runs = [s["body"] for s in await stack.fal_submits(NANO) if "рыжий кот" in str(s["body"])]
        assert len(runs) == 2
        assert runs[0]["prompt"] == runs[1]["prompt"]
        assert isinstance(runs[0]["seed"], int) and runs[0]["seed"] != runs[1]["seed"]
        assert await balance_available(user) == before - 2 * PRICE

        # ✏️ Изменить: the edit starts with this result loaded; no photo is asked for.
        await press(user, gallery, "Изменить")
        models = await user.wait_for_message(
            predicate=contains("Редактирую этот результат"), after=offer.message_id
        )
        await press(user, models, "Nano-Banana")
        await user.wait_for_message(predicate=contains("Уже загружено: 1"), after=models.message_id - 1)
        await user.send_text("надень на кота шляпу")
        await user.wait_for_message(predicate=is_document, timeout=40, after=models.message_id)
        (edit,) = [s["body"] for s in await stack.fal_submits(NANO_EDIT) if "шляп" in str(s["body"])]
        assert len(edit["image_urls"]) == 1
        chat = (await user.transcript()).messages
        assert not [m for m in chat if not m.from_bot and (m.photo or m.document)]

        # The newest work comes first.
        newest = await open_works(user)
        assert text_of(newest).index("Изменение") < text_of(newest).index("рыжий кот")

        # Another user pressing this user's button finds nothing of theirs.
        (data,) = [
            button["callback_data"]
            for row in gallery.reply_markup["inline_keyboard"]
            for button in row
            if "Оригинал" in button["text"]
        ]
        async with stack.user() as stranger:
            await stranger.send_command("ping")
            pong = await reply(stranger, contains("Понг"))
            query = await stranger.press_button(pong.message_id, data=data, forge=True)
            answer = await stranger.callback_answer(query, timeout=15)
            assert answer.text is not None and "больше не хранится" in answer.text
            assert not [m for m in await stranger.bot_messages() if m.document is not None]

        # /delete_me takes the works too.
        await user.send_command("delete_me")
        ask = await reply(user, contains("Удалить ваши данные?"))
        await press(user, ask, "Да, удалить")
        await user.wait_for_message(
            predicate=contains("баланс сохранён"), after=ask.message_id - 1, timeout=30
        )
        empty = await open_works(user)
        assert "Здесь будут ваши работы" in text_of(empty)
        query = await user.press_button(gallery.message_id, text="1 · ⬇️ Оригинал")
        answer = await user.callback_answer(query, timeout=15)
        assert answer.text is not None and "больше не хранится" in answer.text


async def test_cancel_while_queued_never_reaches_fal_and_costs_nothing(stack: Stack) -> None:
    stop_service(stack, "fal-runner")  # the job waits in our queue
    try:
        async with stack.user() as user:
            before = await balance_available(user)
            status, job_id = await start_job(user, "кот-космонавт ждёт в очереди")
            assert await balance_available(user) == before - PRICE  # held

            # Someone else's press is refused, and changes nothing.
            (data,) = [b["callback_data"] for row in status.reply_markup["inline_keyboard"] for b in row]
            async with stack.user() as stranger:
                await stranger.send_command("ping")
                pong = await reply(stranger, contains("Понг"))
                query = await stranger.press_button(pong.message_id, data=data, forge=True)
                assert (await stranger.callback_answer(query, timeout=15)).text == "Эта кнопка не ваша."

            await press(user, status, "Отменить")
            cancelled = await user.wait_for_message(
                predicate=contains("задача отменена"), after=status.message_id - 1, timeout=15
            )
            assert cancelled.message_id == status.message_id and not button_texts(cancelled)
            assert await balance_available(user) == before
    finally:
        stack.start_service("fal-runner")
    # The runner takes the job now and drops it without calling fal.
    event = await final_event(stack, job_id)
    assert event["reason"] == "cancelled"
    assert not [s for s in await stack.fal_submits(NANO) if "кот-космонавт" in str(s["body"])]
    async with stack.user(user_id=user.user_id) as same:
        assert await balance_available(same) == before


async def test_cancel_while_running_cancels_at_fal_and_releases(stack: Stack) -> None:
    async with httpx.AsyncClient() as client:
        slow = {"run_seconds": 60, "count": 1, "model": NANO}
        (await client.post(f"{stack.fal_url}/_emu/faults/slow", json=slow)).raise_for_status()
    async with stack.user() as user:
        before = await balance_available(user)
        status, job_id = await start_job(user, "медленный кот рисуется минуту")
        # At fal: its request was submitted (and runs for a minute).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not [s for s in await stack.fal_submits(NANO) if "медленный кот" in str(s["body"])]:
            assert loop.time() < deadline, "the job never reached fal"
            await asyncio.sleep(0.3)
        [submit] = [s for s in await stack.fal_submits(NANO) if "медленный кот" in str(s["body"])]

        query = await user.press_button(status.message_id, text="❌ Отменить")
        answer = await user.callback_answer(query, timeout=15)
        assert answer.text is not None and "просим её остановить" in answer.text

        cancelled = await user.wait_for_message(
            predicate=contains("задача отменена"), after=status.message_id - 1, timeout=30
        )
        assert cancelled.message_id == status.message_id
        async with httpx.AsyncClient() as client:
            cancels = (await client.get(f"{stack.fal_url}/_emu/cancels")).json()
        assert [c["status"] for c in cancels if c["request_id"] == submit["request_id"]] == [
            "CANCELLATION_REQUESTED"
        ]
        assert (await final_event(stack, job_id))["reason"] == "cancelled"
        await balance_back_to(user, before)  # billing releases from the event the message came from
        assert not [m for m in await user.bot_messages() if m.document is not None]
