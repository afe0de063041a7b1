"""Variants end to end: 4 images of Nano-banana are held and charged 4 × its price and arrive as one
album of 4 documents with a message of per-image buttons; when fal returns 3 of the 4, 3 are charged,
the fourth's price comes back, and /history says so.

Billing, fal-runner and the gateway as subprocesses, a real nats-server and PostgreSQL, the Telegram
and fal emulators over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from medialab_sandbox.telegram import TelegramUserClient, TranscriptMessage
from medialab_testkit.e2e import (
    Stack,
    balance_available,
    button_texts,
    contains,
    fal_and_gateway,
    is_document,
    press,
    reply,
    running_stack,
    text_of,
)
from medialab_testkit.waiting import eventually

pytestmark = pytest.mark.e2e

NANO = "fal-ai/nano-banana"
PRICE = 800  # Nano-banana, per image
WELCOME = 10_000  # enough for 4 + 4 images


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    build = fal_and_gateway(billing_env={"WELCOME_CREDIT": str(WELCOME)})
    with running_stack(tmp_path_factory.mktemp("variants"), postgres_admin_url, build) as stack:
        yield stack


async def fal_returns_one_image_fewer(stack: Stack) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{stack.fal_url}/_emu/faults/short", json={"missing": 1, "model": NANO})
    response.raise_for_status()


async def order_four(user: TelegramUserClient, prompt: str) -> int:
    """M1 with Nano-banana, 4 variants, square, up to the prompt sent; the id of the format step."""
    await user.send_text("🎨 Создать")
    models = await reply(user, contains("Выберите модель"))
    await press(user, models, "Nano-banana")
    formats = await user.wait_for_message(predicate=contains("Выберите формат"), timeout=10)
    assert "✅ 1 вариант · 8 ₽" in button_texts(formats)
    await press(user, formats, "4 варианта · 32 ₽")
    redrawn = await user.wait_for_message(predicate=contains("Вариантов: 4"), timeout=10)
    assert "✅ 4 варианта · 32 ₽" in button_texts(redrawn)
    await press(user, redrawn, "Квадрат")
    asked = await user.wait_for_message(predicate=contains("Напишите промпт"), timeout=10)
    assert "32 ₽ (4 × 8 ₽)" in text_of(asked)
    await user.send_text(prompt)
    return formats.message_id


async def album_of(user: TelegramUserClient, after: int, count: int) -> list[TranscriptMessage]:
    """The delivered documents once ``count`` of them are out, with the buttons message after them."""

    async def documents() -> list[TranscriptMessage]:
        return [m for m in await user.bot_messages() if m.message_id > after and is_document(m)]

    async def all_out() -> bool:
        return len(await documents()) >= count

    await eventually(all_out, timeout=40, what=f"{count} documents", interval=0.3)
    return await documents()


async def test_four_variants_are_charged_four_times_and_arrive_as_one_album(stack: Stack) -> None:
    async with stack.user() as user, stack.control() as control:
        before = await balance_available(user)
        after = await order_four(user, "четыре маяка в тумане")
        album = await album_of(user, after, 4)
        buttons = await user.wait_for_message(predicate=contains("4 варианта выше"), timeout=15, after=after)

        assert len(album) == 4
        assert len({m.media_group_id for m in album}) == 1 and album[0].media_group_id is not None
        assert [text_of(m) for m in album] == [f"✅ Создание: готово ({n}/4)." for n in range(1, 5)]
        assert button_texts(buttons) == [f"{icon} {n}" for n in range(1, 5) for icon in ("✏️", "🔍")]
        groups = [r for r in await control.requests() if r.method == "sendMediaGroup"]
        assert len(groups) == 1 and groups[0].status_code == 200
        (submit,) = [s["body"] for s in await stack.fal_submits(NANO) if "четыре маяка" in str(s["body"])]
        assert submit["num_images"] == 4
        assert await balance_available(user) == before - 4 * PRICE


async def test_three_of_four_delivered_charges_three_and_returns_one(stack: Stack) -> None:
    async with stack.user() as user:
        before = await balance_available(user)
        await fal_returns_one_image_fewer(stack)
        after = await order_four(user, "три маяка из четырёх")
        album = await album_of(user, after, 3)
        await user.wait_for_message(predicate=contains("3 варианта выше"), timeout=15, after=after)
        assert len(album) == 3 and len({m.media_group_id for m in album}) == 1

        async def charged_three() -> bool:
            return await balance_available(user) == before - 3 * PRICE

        await eventually(
            charged_three, timeout=15, what="3 images charged, the fourth returned", interval=1.0
        )
        await user.send_command("history")
        history = text_of(await reply(user, contains("История операций")))
        assert "Создание · Nano-banana · 32 ₽ · ↩️ пришло меньше изображений, возвращено +8 ₽" in history
        assert "Создание · Nano-banana · 32 ₽ · ✅ списано" in history
