"""«🖼 Мои работы» end to end: a delivered result is kept (across a gateway restart), its original is
re-sent by file_id with no upload, 🔁 makes a new job with another seed at the full price, ✏️ starts
an edit with the result loaded, another user cannot use the buttons, /delete_me empties the gallery.

Billing, fal-runner and the gateway as subprocesses, a real nats-server and PostgreSQL, the Telegram
and fal emulators over HTTP.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from medialab_sandbox.telegram import TelegramUserClient, TranscriptMessage

sys.path.insert(0, str(Path(__file__).parent))
from test_e2e_harness import (
    Stack,
    balance_available,
    build_stack,
    button_texts,
    contains,
    is_document,
    press,
    reply,
    text_of,
)

pytestmark = pytest.mark.e2e

NANO = "fal-ai/nano-banana"
NANO_EDIT = "fal-ai/nano-banana/edit"
PRICE = 800  # Nano-banana


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    def build(stack: Stack) -> None:
        stack.start_billing()
        stack.start_fal()
        stack.start_fal_runner()
        stack.start_gateway()

    stack = build_stack(tmp_path_factory.mktemp("works"), postgres_admin_url, build)
    yield stack
    stack.close()


async def fal_submits(stack: Stack, model: str) -> list[dict]:
    assert stack.fal is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{stack.fal.url}/_emu/submits", params={"model": model})
    return response.json()


def restart_gateway(stack: Stack) -> None:
    [(key, gateway)] = [(k, p) for k, p in stack.services.items() if k.startswith("gateway")]
    gateway.stop(timeout=15)
    del stack.services[key]
    stack.start_gateway().wait_ready(timeout=90)


async def create_image(user: TelegramUserClient, prompt: str) -> TranscriptMessage:
    """M1 with Nano-banana, square: the delivered document."""
    await user.send_text("🎨 Создать")
    models = await reply(user, contains("Выберите модель"))
    await press(user, models, "Nano-banana")
    formats = await user.wait_for_message(predicate=contains("Выберите формат"), timeout=10)
    await press(user, formats, "Квадрат")
    await user.wait_for_message(predicate=contains("Напишите промпт"), timeout=10)
    await user.send_text(prompt)
    return await user.wait_for_message(predicate=is_document, timeout=40, after=models.message_id)


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
        runs = [s["body"] for s in await fal_submits(stack, NANO) if "рыжий кот" in str(s["body"])]
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
        (edit,) = [s["body"] for s in await fal_submits(stack, NANO_EDIT) if "шляп" in str(s["body"])]
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
