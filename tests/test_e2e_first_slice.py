"""First slice — /start greets with the guide and the main menu, /menu resets, /ping answers — and
everything else that needs only the gateway and billing: commands, refusals of bad input, a balance
too small for the price. No runner runs here, so any job that got queued would stay in JOBS.

Gateway and billing as subprocesses, a real nats-server, the Telegram emulator over HTTP. New users
get 10 ₽ in this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import nats
import pytest
from medialab_contracts import subjects
from medialab_contracts.events import (
    FailureReason,
    JobEventBase,
    JobFailed,
    JobProgress,
    JobSucceeded,
    MediaOutput,
)
from medialab_contracts.ids import new_job_id
from medialab_contracts.jobs import JobRequest
from medialab_contracts.modes import Mode
from medialab_runtime.media_store import MediaStore
from medialab_sandbox.telegram import TelegramUserClient
from medialab_testkit.e2e import (
    ADMIN_ID,
    Stack,
    balance_available,
    button_texts,
    contains,
    jpeg_bytes,
    keyboard_texts,
    png_bytes,
    press,
    reply,
    running_stack,
    wait_document,
)
from nats.js.errors import NotFoundError

pytestmark = pytest.mark.e2e

MENU_BUTTONS = [
    "🎨 Создать",
    "✍️ Написать",
    "✏️ Изменить",
    "🔗 Объединить",
    "✨ Ретушь",
    "📝 Добавить текст",
    "🔄 Заменить лицо",
    "⬆️ Улучшить",
    "💰 Баланс",
    "💳 Пополнить",
    "🖼 Мои работы",
    "ℹ️ Info",
]


async def order_extended(user: TelegramUserClient, text: str) -> None:
    """Send an extended-form request and accept the price it is offered at."""
    await user.send_text(text)
    await press(user, await reply(user, contains("Запустить?")), "Запустить")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    def build(stack: Stack) -> None:
        stack.launch("billing", WELCOME_CREDIT="1000")
        stack.launch("gateway-bot")

    with running_stack(tmp_path_factory.mktemp("first-slice"), postgres_admin_url, build) as stack:
        yield stack


async def test_start_greets_with_guide_and_main_menu(stack: Stack) -> None:
    async with stack.user() as user:
        await user.send_command("start")
        greeting = await reply(user, contains("Привет"))
        assert "MediaLab" in greeting.text
        for button in MENU_BUTTONS[:8]:
            assert button in greeting.text  # the short guide names every mode
        transcript = await user.transcript()
        assert keyboard_texts(transcript.reply_keyboard) == MENU_BUTTONS


async def test_menu_resets_a_started_flow(stack: Stack) -> None:
    async with stack.user() as user:
        await user.send_text("🎨 Создать")
        await reply(user, contains("Выберите модель"))
        await user.send_command("menu")
        await reply(user, contains("Главное меню"))
        # With the flow reset, a plain text at the menu is a new prompt, not a step of the old flow.
        await user.send_text("кот в шляпе")
        answer = await reply(user, contains("Выберите модель"))
        assert "по вашему промпту" in answer.text


async def test_ping_answers(stack: Stack) -> None:
    async with stack.user() as user:
        await user.send_command("ping")
        pong = await reply(user, contains("Понг"))
        assert pong.text.startswith("🏓")
    gateway = stack.service("gateway-bot")
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{gateway.health_url}/metrics")).text
    assert 'medialab_gateway_updates_total{type="message"}' in metrics


async def test_bot_commands_are_set(stack: Stack) -> None:
    async with stack.control() as control:
        calls = [record.method for record in await control.requests()]
    assert "setMyCommands" in calls


async def jobs_of(stack: Stack, user_id: int) -> list[JobRequest]:
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(subjects.JOBS_STREAM)
        jobs: list[JobRequest] = []
        if info.state.messages == 0:
            return jobs
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                raw = await js.get_msg(subjects.JOBS_STREAM, seq)
            except NotFoundError:
                continue
            job = JobRequest.model_validate_json(raw.data or b"")
            if job.user_id == user_id:
                jobs.append(job)
        return jobs
    finally:
        await nc.close()


async def test_price_over_balance_is_told_and_nothing_is_queued(stack: Stack) -> None:
    async with stack.user() as user:
        await user.send_text("🎨 Создать")
        models = await reply(user, contains("Выберите модель"))
        await press(user, models, "Nano Banana Pro")
        formats = await user.wait_for_message(predicate=contains("Выберите формат"), timeout=10)
        await press(user, formats, "Квадрат")
        await user.wait_for_message(predicate=contains("Напишите промпт"), timeout=10)
        await user.send_text("дорогой портрет")
        refusal = await reply(user, contains("Недостаточно средств"))
        assert "стоимость 24 ₽, доступно 10 ₽" in refusal.text
        assert await jobs_of(stack, user.user_id) == []
        assert await balance_available(user) == 1000


async def test_bad_inputs_get_clear_messages_and_cost_nothing(stack: Stack) -> None:
    async with stack.user() as user:
        await user.send_sticker()
        await reply(user, contains("Я понимаю текст, фото и файлы-изображения"))
        await user.send_album([jpeg_bytes(), jpeg_bytes()])  # an album at the menu: answered once
        await reply(user, contains("сначала выберите режим"))
        await asyncio.sleep(1.0)
        assert len([m for m in await user.bot_messages() if "сначала выберите режим" in (m.text or "")]) == 1
        await user.send_text("Изображение кот | model=dalle9")
        unknown = await reply(user, contains("Неизвестная модель «dalle9»"))
        assert "nano" in unknown.text and "flux" in unknown.text and "seedream" in unknown.text
        await user.send_text("Изображение кот | colour=red")
        await reply(user, contains("Допустимые параметры: model, size, aspect_ratio, negative"))
        await user.send_text("Изображение   | model=nano")
        await reply(user, contains("Промпт пустой"))

        await user.send_text("⬆️ Улучшить")
        await reply(user, contains("Отправьте изображение"))
        await user.send_document(b"%PDF-1.4 not really", "scan.pdf", mime_type="application/pdf")
        await reply(user, contains("Это не изображение"))
        await user.send_document(b"\0" * (25 * 1024 * 1024), "huge.png", mime_type="image/png")
        await reply(user, contains("Файл слишком большой: максимум 20 МБ"))
        await user.send_document(b"\x89PNG\r\n\x1a\n garbage", "broken.png", mime_type="image/png")
        await reply(user, contains("Не удалось прочитать изображение"))
        await user.send_sticker()
        await reply(user, contains("Жду изображение"))

        await user.send_text("✏️ Изменить")
        models = await reply(user, contains("Выберите модель"))
        await press(user, models, "Nano-Banana")
        await user.wait_for_message(predicate=contains("Отправьте от 1 до 4"), timeout=10)
        await user.send_album([jpeg_bytes(color=(40 * n, 0, 0)) for n in range(5)])
        await reply(user, contains("Можно не больше 4 изображений"))
        await user.send_text("сделай ярче")
        await reply(user, contains("Сначала отправьте изображение"))

        assert await jobs_of(stack, user.user_id) == []
        assert await balance_available(user) == 1000


async def test_forged_and_stale_callbacks_get_a_polite_answer_only(stack: Stack) -> None:
    async with stack.user() as user:
        await user.send_text("🎨 Создать")
        old = await reply(user, contains("Выберите модель"))
        await user.send_text("🎨 Создать")
        await reply(user, lambda m: "Выберите модель" in (m.text or "") and m.message_id > old.message_id)
        count = len(await user.bot_messages())

        stale = await press(user, old, "Nano-banana")  # the older flow's keyboard
        assert (
            await user.callback_answer(stale)
        ).text == "Эта кнопка устарела. Откройте режим заново из меню."
        forged = await user.press_button(old.message_id, data="m:deadbeef:nbp", forge=True)
        assert "устарела" in (await user.callback_answer(forged)).text
        garbage = await user.press_button(old.message_id, data="totally-garbage", forge=True)
        assert "устарела" in (await user.callback_answer(garbage)).text
        foreign = await user.press_button(old.message_id, data=f"res:u:{'ab' * 16}:0", forge=True)
        assert (await user.callback_answer(foreign)).text == "Этот результат больше недоступен."
        await asyncio.sleep(0.5)
        assert len(await user.bot_messages()) == count  # nothing but the answers


async def test_add_balance_admin_only_and_validated(stack: Stack) -> None:
    async with stack.user() as user, stack.user(ADMIN_ID) as admin:
        await user.send_command("add_balance", "500")
        await reply(user, contains("только администраторам"))
        await admin.send_command("add_balance", "-5")
        await reply(admin, contains("Сумма должна быть больше нуля"))
        await admin.send_command("add_balance", "abc")
        await reply(admin, contains("Не понимаю сумму"))
        await admin.send_command("add_balance", f"{user.user_id} 20,50")
        done = await reply(admin, contains("пополнен на 20,50 ₽"))
        assert str(user.user_id) in done.text
        assert await balance_available(user) == 1000 + 2050
        await admin.send_command("add_balance", "500")
        await reply(admin, contains("пополнен на 500 ₽"))


async def test_balance_button_and_paged_history(stack: Stack) -> None:
    async with stack.user() as user, stack.user(ADMIN_ID + 1) as other:
        await user.send_text("💰 Баланс")
        balance = await reply(user, contains("На счёте"))
        assert "На счёте: 10 ₽\nЗарезервировано: 0 ₽\nДоступно: 10 ₽" in balance.text
        await press(user, balance, "История операций")
        welcome = await user.wait_for_message(predicate=contains("История операций"), timeout=10)
        assert "🎁 приветственный бонус +10 ₽ · баланс 10 ₽" in welcome.text  # from the ledger

        async with stack.user(ADMIN_ID) as admin:
            await admin.send_command("add_balance", f"{user.user_id} 100")
            await reply(admin, contains("пополнен"))
        for n in range(6):  # no runner here: they stay reserved
            await order_extended(user, f"Изображение шар {n} | model=nano")
            await reply(user, contains("задача принята"))
        await user.send_command("balance")
        await reply(user, contains("Зарезервировано: 48 ₽"))
        await user.send_command("history")
        first = await reply(user, contains("страница 1 из 2"))
        assert first.text.count("⏳ в работе") == 5 and button_texts(first) == ["▶"]
        await press(user, first, "▶")
        second = await user.wait_for_message(predicate=contains("страница 2 из 2"), timeout=10)
        assert second.message_id == first.message_id and button_texts(second) == ["◀"]
        assert "💳 пополнение +100 ₽ · баланс 110 ₽" in second.text

        status = await other.send_command("status")
        await reply(other, contains("Укажите ID задачи"))
        await other.send_command("status", "xyz")
        await reply(other, contains("Неверный ID задачи"))
        mine = (await jobs_of(stack, user.user_id))[0].job_id
        await other.send_command("status", mine)  # someone else's job is not found
        await reply(other, contains("Задача не найдена"))
        await user.send_command("status", mine)
        await reply(user, contains("⏳ в работе"))
        assert status.message_id > 0


async def test_translation_failure_is_told_and_reserves_nothing(stack: Stack) -> None:
    # No prompt-llm runs in this module, so llm.translate has no responder.
    async with stack.user() as user:
        await order_extended(user, "Изображение горы на закате | model=seedream")
        await reply(user, contains("Не удалось перевести промпт"), timeout=30)
        assert await jobs_of(stack, user.user_id) == []
        assert await balance_available(user) == 1000


async def publish(stack: Stack, event: JobEventBase, msg_id: str | None = None) -> None:
    nc = await nats.connect(stack.nats_url)
    try:
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        await nc.jetstream().publish(event.subject, event.model_dump_json().encode(), headers=headers)
    finally:
        await nc.close()


async def test_progress_edits_are_throttled_and_a_failure_finalises_and_refunds(stack: Stack) -> None:
    async with stack.user() as user:
        await order_extended(user, "Изображение дом у озера | model=nano")
        status = await reply(user, contains("задача принята"))
        (job,) = await jobs_of(stack, user.user_id)
        assert job.job_id in status.text
        await user.send_command("balance")
        await reply(user, contains("Зарезервировано: 8 ₽"))
        common = {"job_id": job.job_id, "user_id": user.user_id, "chat_id": user.chat_id, "mode": job.mode}
        await asyncio.sleep(2.1)  # the status message was just sent: edits wait out the interval
        await publish(stack, JobProgress(**common, stage="queued", queue_position=3, eta_s=38, elapsed_s=1.0))
        edited = await user.wait_for_message(predicate=contains("в очереди: 4-й · примерно 40 с"), timeout=10)
        assert edited.message_id == status.message_id
        for n in range(5):  # a burst inside the 2 s window: at most one more edit
            await publish(stack, JobProgress(**common, stage="running", elapsed_s=2.0 + n))
        await asyncio.sleep(1.0)
        (current,) = [m for m in await user.bot_messages() if m.message_id == status.message_id]
        assert len(current.edits) <= 2
        await publish(
            stack, JobFailed(**common, reason=FailureReason.provider_unavailable), f"{job.job_id}:failed"
        )
        failed = await user.wait_for_message(predicate=contains("не получилось"), timeout=10)
        assert failed.message_id == status.message_id  # the status message itself is finalised
        assert "модель временно недоступна" in failed.text and "Средства не списаны" in failed.text
        await asyncio.sleep(1.0)
        assert await balance_available(user) == 1000


async def test_gateway_restart_loses_no_delivery_and_a_redelivered_event_sends_once(stack: Stack) -> None:
    gateway = stack.service("gateway-bot")
    async with stack.user() as user:
        await user.send_command("ping")
        await reply(user, contains("Понг"))
        gateway.stop()
        nc = await nats.connect(stack.nats_url)
        try:
            media = await MediaStore.open(nc.jetstream())
            job_id = new_job_id()
            image = png_bytes((96, 64))
            ref = await media.put(f"results/{job_id}/0", image, "image/png", width=96, height=64)
        finally:
            await nc.close()
        event = JobSucceeded(
            job_id=job_id,
            user_id=user.user_id,
            chat_id=user.chat_id,
            mode=Mode.upscale,
            outputs=[MediaOutput(**ref.model_dump(exclude={"width", "height"}), width=96, height=64)],
        )
        await publish(stack, event, f"{job_id}:succeeded")
        gateway.start()
        gateway.wait_ready(timeout=90)
        document = await wait_document(user, timeout=30)
        assert await user.download(document.document.file_id) == image
        await publish(stack, event, f"{job_id}:succeeded-again")  # past the stream's dedup
        await asyncio.sleep(2.0)
        assert len([m for m in await user.bot_messages() if m.document is not None]) == 1
