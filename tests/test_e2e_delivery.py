"""Honest outcomes end to end (gateway + runners + emulators over HTTP, billing real).

A result over Telegram's document limit still arrives, in one attempt; a result Telegram refuses is
refunded and explained; a result for a chat that blocked the bot, or one Telegram fails on every
attempt, is refunded; M5 checks its photo on arrival; /add_balance works for any Telegram id;
a cancelled step's buttons are gone or stale; a safety refusal of a photo offers another photo.
"""

from __future__ import annotations

import asyncio
import io
import random
import re
from collections.abc import Iterator
from contextlib import AsyncExitStack

import httpx
import pytest
from medialab_sandbox.fal import content_policy_violation
from medialab_sandbox.telegram import TelegramUserClient
from medialab_testkit.e2e import (
    ADMIN_ID,
    Stack,
    balance_available,
    balance_back_to,
    button_texts,
    contains,
    is_document,
    jpeg_bytes,
    press,
    reply,
    running_stack,
    script_llm,
    text_of,
)
from medialab_testkit.waiting import eventually
from PIL import Image

pytestmark = pytest.mark.e2e

MB = 1024 * 1024
STALE = "Эта кнопка устарела. Откройте режим заново из меню."
SMALL_ADMIN_ID = 7  # "tg-7-1" was too short for billing's request ids
# The gateway's attempts at one result: few, so a result Telegram always fails is given up quickly.
DELIVERY_ATTEMPTS = 3
# An undelivered upscale in /history: charged and refunded, or (Telegram refused the result before
# billing charged it) released; either way its 8 ₽ are back and the line says it was not delivered.
UNDELIVERED = (
    "Улучшение · Recraft Crisp ×2 · 8 ₽ · ↩️ не доставлено, возвращено · баланс 30 ₽",
    "Улучшение · Recraft Crisp ×2 · 8 ₽ · ↩️ не доставлено, не списано · баланс 30 ₽",
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    admins = f"{ADMIN_ID},{SMALL_ADMIN_ID}"

    def build(s: Stack) -> None:
        s.launch("billing", ADMIN_IDS=admins)
        s.start_fal()
        s.launch("fal-runner")
        s.launch("text-render")
        s.launch("prompt-llm")
        s.launch("gateway-bot", ADMIN_IDS=admins, DELIVERY_MAX_DELIVER=str(DELIVERY_ATTEMPTS))

    with running_stack(tmp_path_factory.mktemp("delivery"), postgres_admin_url, build) as stack:
        yield stack


def png_of(size: tuple[int, int], *, grainy: bool = False) -> bytes:
    if grainy:
        noise = random.Random(size[0]).randbytes(size[0] * size[1] * 3)
        image = Image.frombytes("RGB", size, noise)
    else:
        image = Image.new("RGB", size, (90, 120, 200))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


async def fal_grain(stack: Stack, grainy: bool) -> None:
    async with httpx.AsyncClient() as client:
        (await client.put(f"{stack.fal_url}/_emu/output-grain", json={"grainy": grainy})).raise_for_status()


async def calls(stack: Stack, method: str, chat_id: int) -> list[int]:
    """Status codes of the bot's ``method`` calls to ``chat_id``, as the Telegram emulator answered them."""
    async with stack.control() as control:
        records = await control.requests()
    return [r.status_code for r in records if r.method == method and r.chat_id == chat_id]


async def upscale(user: TelegramUserClient, image: bytes) -> None:
    await user.send_text("⬆️ Улучшить")
    await reply(user, contains("Улучш"))
    await user.send_document(image, "input.png", mime_type="image/png")


async def test_a_60_mb_result_arrives_as_one_document_under_the_limit(stack: Stack) -> None:
    await fal_grain(stack, True)  # the ×2 upscale of 2240×2240 is a 4480×4480 PNG of about 60 MB
    try:
        async with stack.user() as user:
            before = await balance_available(user)
            await upscale(user, png_of((2240, 2240)))
            document = await user.wait_for_message(predicate=is_document, timeout=120)
            data = await user.download(document.document.file_id)
            assert len(data) <= 50 * MB
            with Image.open(io.BytesIO(data)) as image:
                assert image.format == "JPEG"
                fitted_size = image.size
            caption = text_of(document)
            assert "PNG больше 50 МБ" in caption and "JPEG" in caption
            if fitted_size != (4480, 4480):
                assert f"{fitted_size[0]}×{fitted_size[1]}" in caption  # a downscale says to what
            assert button_texts(document) == ["✏️ Редактировать", "🔍 Upscale"]
            await asyncio.sleep(1.0)
            assert await calls(stack, "sendDocument", user.user_id) == [200]  # one attempt
            assert await calls(stack, "sendPhoto", user.user_id) == [200]  # one preview
            assert await balance_available(user) == before - 800
    finally:
        await fal_grain(stack, False)


async def test_a_result_telegram_refuses_as_too_large_is_refunded_once(stack: Stack) -> None:
    async with stack.user() as user:
        before = await balance_available(user)
        async with stack.control() as control:
            await control.inject_fault("sendDocument", status=413, description="Request Entity Too Large")
        await upscale(user, png_of((64, 48)))
        told = await user.wait_for_message(predicate=contains("не удалось отправить"), timeout=60)
        assert "лимит Telegram (50 МБ)" in told.text
        assert "Средства возвращены" in told.text and "Запустите задачу ещё раз" in told.text
        await asyncio.sleep(1.0)
        assert await calls(stack, "sendDocument", user.user_id) == [413]  # final: never retried
        await balance_back_to(user, before)  # the charge and the refund may land in either order
        assert not [m for m in await user.bot_messages() if is_document(m)]
        assert await refunds(user) == 1


async def refunds(user: TelegramUserClient) -> int:
    """How many jobs of the user's /history were not delivered and cost nothing: their one upscale's
    8 ₽, from 30 ₽."""
    await user.send_command("history")
    history = await reply(user, contains("История операций"))
    lines = [line for line in history.text.splitlines() if "не доставлено" in line]
    assert all(line.endswith(UNDELIVERED) for line in lines), lines
    return len(lines)


async def test_a_result_for_a_chat_that_blocked_the_bot_is_refunded_at_once(stack: Stack) -> None:
    async with stack.user() as user:
        before = await balance_available(user)
        async with stack.control() as control:
            await control.inject_fault(
                "sendDocument", status=403, description="Forbidden: bot was blocked by the user"
            )
        await upscale(user, png_of((64, 48)))

        async def refused() -> bool:
            return await calls(stack, "sendDocument", user.user_id) == [403]

        await eventually(refused, timeout=60, what="the result refused by the chat", interval=0.2)
        await balance_back_to(user, before)
        await asyncio.sleep(1.0)
        assert await calls(stack, "sendDocument", user.user_id) == [403]  # final: never retried
        assert not [m for m in await user.bot_messages() if "не удалось отправить" in text_of(m)]
        assert await refunds(user) == 1


async def test_a_result_telegram_fails_on_every_attempt_is_refunded_once_and_told(stack: Stack) -> None:
    async with stack.user() as user:
        before = await balance_available(user)
        async with stack.control() as control:
            await control.inject_fault("sendDocument", count=10 * DELIVERY_ATTEMPTS, status=502)
        try:
            await upscale(user, png_of((64, 48)))
            told = await user.wait_for_message(predicate=contains("не удалось отправить"), timeout=90)
        finally:
            async with stack.control() as control:
                await control.clear_faults()
        assert "Telegram отвечал ошибкой на каждую попытку отправки" in told.text
        assert "Средства возвращены" in told.text and "Запустите задачу ещё раз" in told.text
        await balance_back_to(user, before)
        await asyncio.sleep(1.0)
        assert await calls(stack, "sendDocument", user.user_id) == [502] * DELIVERY_ATTEMPTS
        assert await balance_available(user) == before
        assert await refunds(user) == 1


async def test_text_mode_checks_the_photo_when_it_arrives(stack: Stack) -> None:
    heavy = png_of((2000, 2000), grainy=True)
    assert len(heavy) > 10 * MB
    async with stack.user() as user:
        await user.send_text("📝 Добавить текст")
        ask = await reply(user, contains("Отправьте изображение"))
        assert "до 10 МБ" in ask.text
        await user.send_document(heavy, "big.png", mime_type="image/png")
        refused = await reply(user, contains("слишком большой"))
        assert "максимум 10 МБ" in refused.text
        await user.send_photo(jpeg_bytes())  # still at the photo step: a fitting one goes on
        await reply(user, contains("Введите текст"))


async def test_the_extended_forms_size_is_priced_by_the_resolution_it_asks_for(stack: Stack) -> None:
    async with stack.user() as user:
        await balance_available(user)  # the account exists
        async with stack.user(user_id=ADMIN_ID) as admin:
            await admin.send_command("add_balance", f"{user.user_id} 100")
            await reply(admin, contains("пополнен"))
        before = await balance_available(user)
        await user.send_text("Изображение кот в космосе | model=pro | size=4096x4096")
        offer = await reply(user, contains("Запустить?"))
        assert "Стоимость: 48 ₽" in offer.text  # 4K: twice the 1K/2K price, as fal bills it
        await press(user, offer, "Запустить")
        document = await user.wait_for_message(predicate=is_document, after=offer.message_id, timeout=60)
        with Image.open(io.BytesIO(await user.download(document.document.file_id))) as image:
            assert image.size == (4096, 4096)
        assert await balance_available(user) == before - 4800


async def test_an_input_seedream_cannot_take_is_refused_before_anything_is_paid(stack: Stack) -> None:
    """Seedream takes inputs whose sides are at most 3:1 apart (ByteDance's limits): a 4:1 panorama is
    refused with that reason, before the paid translation and before any reservation."""
    async with stack.user() as user:
        before = await balance_available(user)
        await user.send_text("✏️ Изменить")
        await press(user, await reply(user, lambda m: bool(m.reply_markup)), "Seedream")
        await reply(user, contains("Отправьте от 1 до 4"))
        await user.send_photo(jpeg_bytes((2400, 600)))
        await reply(user, contains("Изображений загружено: 1 из 4"))
        await user.send_text("сделай небо фиолетовым")
        refused = await reply(user, contains("слишком вытянутое"))
        assert "не больше чем в 3 раза" in refused.text
        await asyncio.sleep(0.5)
        assert await balance_available(user) == before
        assert not [m for m in await user.bot_messages() if "задача принята" in text_of(m)]


async def test_add_balance_works_for_user_id_7(stack: Stack) -> None:
    async with stack.user(user_id=SMALL_ADMIN_ID) as admin:
        before = await balance_available(admin)
        await admin.send_command("add_balance", "100")
        done = await reply(admin, contains("пополнен"))
        assert f"<code>{SMALL_ADMIN_ID}</code>" in done.text or str(SMALL_ADMIN_ID) in text_of(done)
        assert await balance_available(admin) == before + 10_000
        await admin.send_command("history")
        history = await reply(admin, contains("История операций"))
        lines = history.text.splitlines()
        assert "💳 пополнение +100 ₽ · баланс 130 ₽" in lines[1]  # newest first
        assert "🎁 приветственный бонус +30 ₽ · баланс 30 ₽" in lines[2]
    async with stack.user(user_id=ADMIN_ID) as admin:
        await admin.send_command("add_balance", f"{SMALL_ADMIN_ID} 5")
        await reply(admin, contains("пополнен"))


async def test_a_cancelled_step_loses_its_buttons_and_old_presses_are_stale(stack: Stack) -> None:
    async with stack.user() as user:
        await user.send_text("🎨 Создать")
        models = await reply(user, lambda m: bool(m.reply_markup))
        (model_data,) = [
            button["callback_data"]
            for row in models.reply_markup["inline_keyboard"]
            for button in row
            if button["text"].startswith("Nano-banana")
        ]
        await press(user, models, "Отмена")
        await reply(user, contains("Отменено"))
        (cancelled,) = [m for m in await user.bot_messages() if m.message_id == models.message_id]
        assert button_texts(cancelled) == []
        count = len(await user.bot_messages(include_deleted=True))
        query = await user.press_button(models.message_id, data=model_data, forge=True)
        answer = await user.callback_answer(query)
        assert answer.text == STALE
        await asyncio.sleep(1.0)
        assert len(await user.bot_messages(include_deleted=True)) == count  # no side effect


async def test_soft_retouch_asks_no_wish_the_model_would_drop(stack: Stack) -> None:
    async with stack.user() as user:
        before = await balance_available(user)
        await user.send_text("✨ Ретушь")
        await reply(user, contains("Ретушь"))
        await user.send_photo(jpeg_bytes((512, 512)))
        kinds = await reply(user, contains("Выберите режим"))
        await press(user, kinds, "Мягкая ретушь")
        await user.wait_for_message(predicate=is_document, timeout=60)
        assert not [m for m in await user.bot_messages() if "Пропустить" in str(m.reply_markup)]
        (started,) = [
            m for m in await user.bot_messages(include_deleted=True) if m.message_id == kinds.message_id
        ]
        assert "без инструкций" in text_of(started)
        assert await balance_available(user) == before - 800


async def test_a_6000_by_1500_png_to_upscale_is_clamped_and_succeeds(stack: Stack) -> None:
    async with stack.user() as user:
        before = await balance_available(user)
        await upscale(user, png_of((6000, 1500)))
        status = await reply(user, contains("задача принята"), timeout=30)
        assert "Изображение уменьшено до 4096×1024" in status.text
        document = await user.wait_for_message(predicate=is_document, timeout=60)
        with Image.open(io.BytesIO(await user.download(document.document.file_id))) as image:
            assert image.size == (8192, 2048)  # the ×2 of the clamped input
        assert await balance_available(user) == before - 800


async def test_a_noisy_png_to_upscale_reaches_fal_at_the_size_the_note_names(stack: Stack) -> None:
    """A photo-like PNG over the 4 MB upload budget even at 4096×1024: what fal gets is what the user
    is told, and fal-runner sends the gateway's bytes as they are."""
    crisp = "fal-ai/recraft/upscale/crisp"
    earlier = len(await stack.fal_submits(crisp))
    async with stack.user() as user:
        before = await balance_available(user)
        await upscale(user, png_of((4600, 1150), grainy=True))  # ~16 MB, over the 4096 px side too
        status = await reply(user, contains("задача принята"), timeout=60)
        named = re.search(r"Изображение уменьшено до (\d+)×(\d+)", status.text)
        assert named is not None, status.text
        note_size = (int(named[1]), int(named[2]))
        document = await user.wait_for_message(predicate=is_document, timeout=60)
        with Image.open(io.BytesIO(await user.download(document.document.file_id))) as image:
            assert image.size == (note_size[0] * 2, note_size[1] * 2)
        assert await balance_available(user) == before - 800
    (submit,) = (await stack.fal_submits(crisp))[earlier:]
    async with httpx.AsyncClient() as client:
        sent = (await client.get(submit["body"]["image_url"])).raise_for_status().content
    assert len(sent) <= 4 * MB
    with Image.open(io.BytesIO(sent)) as image:
        assert (image.format, image.size) == ("PNG", note_size)


async def test_an_image_too_small_to_upscale_is_refused_before_any_charge(stack: Stack) -> None:
    async with stack.user() as user:
        before = await balance_available(user)
        await upscale(user, png_of((20, 400)))
        refused = await reply(user, contains("слишком маленькое"))
        assert "не меньше 32 px" in refused.text
        assert await balance_available(user) == before


async def fal_safety(stack: Stack, flagged: bool) -> None:
    async with httpx.AsyncClient() as client:
        (await client.put(f"{stack.fal_url}/_emu/safety", json={"flagged": flagged})).raise_for_status()


async def test_a_safety_refusal_of_an_upscale_offers_another_photo_not_a_rephrase(stack: Stack) -> None:
    """An upscale has no prompt of the user's to rephrase: the image was refused."""
    fault = {
        "model": "fal-ai/recraft/upscale/crisp",
        "error": content_policy_violation().model_dump(mode="json"),
    }
    async with stack.user() as user:
        before = await balance_available(user)
        async with httpx.AsyncClient() as client:
            (await client.post(f"{stack.fal_url}/_emu/faults/job", json=fault)).raise_for_status()
        await upscale(user, png_of((64, 48)))
        refused = await user.wait_for_message(predicate=contains("не получилось"), timeout=60)
        assert "отклонил изображение — попробуйте другое фото" in refused.text
        assert "промпт" not in refused.text and "Средства не списаны" in refused.text
        assert button_texts(refused) == []
        await balance_back_to(user, before)


async def test_a_flagged_result_is_not_charged_and_offers_one_rephrase(stack: Stack) -> None:
    async with stack.user() as user:
        before = await balance_available(user)
        await script_llm(stack, "a beach at sunset", "a beach at sunset, watercolor")
        await fal_safety(stack, True)
        try:
            await user.send_text("Изображение пляж на закате | model=flux")
            await press(user, await reply(user, contains("Запустить?")), "Запустить")
            refused = await user.wait_for_message(predicate=contains("фильтром безопасности"), timeout=60)
        finally:
            await fal_safety(stack, False)
        assert "Средства не списаны" in refused.text
        assert button_texts(refused) == ["✏️ Переформулировать"]
        assert not [m for m in await user.bot_messages() if is_document(m)]
        await balance_back_to(user, before)
        (data,) = [b["callback_data"] for row in refused.reply_markup["inline_keyboard"] for b in row]
        await user.press_button(refused.message_id, data=data)
        ask = await reply(user, contains("Прежний промпт"))
        assert "пляж на закате" in ask.text
        again = await user.press_button(refused.message_id, data=data, forge=True)  # once per job
        assert (await user.callback_answer(again)).text == STALE
        await user.send_text("пляж на закате, акварель")
        status = await reply(user, contains("задача принята"))
        assert "бесплатно" in status.text
        await user.wait_for_message(predicate=is_document, timeout=60)
        assert await balance_available(user) == before  # the rephrase is free


FORMAT_BUTTONS = {"Nano-banana": 3, "Seedream": 9, "Nano Banana Pro": 9}  # Seedream: 3 marketplace cards


async def order_format(user: TelegramUserClient, model: str, number: int) -> None:
    """Create with ``model`` at its format button ``number``: the pixels and the charge match the label."""
    before = await balance_available(user)
    await user.send_text("🎨 Создать")
    models = await reply(user, lambda m: bool(m.reply_markup))
    await press(user, models, model)
    step = models.message_id - 1  # the steps edit the model message in place
    formats = await user.wait_for_message(predicate=contains("Выберите формат"), after=step)
    labels = [text for text in button_texts(formats) if "×" in text]
    assert len(labels) == FORMAT_BUTTONS[model], labels
    label = labels[number]
    await press(user, formats, label)
    await user.wait_for_message(predicate=contains("Напишите промпт"), after=step)
    await user.send_text(f"красный воздушный змей номер {number}")  # Seedream's is translated first
    document = await user.wait_for_message(predicate=is_document, after=models.message_id, timeout=90)
    with Image.open(io.BytesIO(await user.download(document.document.file_id))) as image:
        assert f"{image.width}×{image.height}" in label, label
    if (shown := re.search(r"· (\d+) ₽", label)) is not None:  # a model priced by resolution
        assert await balance_available(user) == before - int(shown[1]) * 100, label


@pytest.mark.parametrize("model", list(FORMAT_BUTTONS))
async def test_each_format_button_delivers_the_pixels_its_label_promises(stack: Stack, model: str) -> None:
    """Every ratio at every resolution, one user per button at once (Telegram paces each chat)."""
    async with AsyncExitStack() as opened:
        users = [await opened.enter_async_context(stack.user()) for _ in range(FORMAT_BUTTONS[model])]
        await asyncio.gather(*(balance_available(user) for user in users))  # the accounts exist
        async with stack.user(user_id=ADMIN_ID) as admin:
            for user in users:
                await admin.send_command("add_balance", f"{user.user_id} 400")
                await reply(admin, contains(f"{user.user_id} пополнен"))
        await asyncio.gather(*(order_format(user, model, number) for number, user in enumerate(users)))
