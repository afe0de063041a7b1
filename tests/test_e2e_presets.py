"""Marketplace presets end to end: a Wildberries card is exactly 900×1200 pixels, whether Seedream is
asked for that size (M1) or text-render crops the user's picture to it before drawing the text (M5).

Billing, fal-runner, prompt-llm (Seedream's translation), text-render and the gateway as subprocesses,
a real nats-server and PostgreSQL, the Telegram and fal emulators over HTTP.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from medialab_sandbox.telegram import TelegramUserClient
from medialab_testkit.e2e import (
    Stack,
    balance_available,
    contains,
    is_document,
    png_bytes,
    press,
    reply,
    running_stack,
)
from PIL import Image

pytestmark = pytest.mark.e2e

WB = "Wildberries 3:4 900×1200"
SEEDREAM = "fal-ai/bytedance/seedream/v4/text-to-image"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Stack]:
    def build(stack: Stack) -> None:
        stack.launch("billing")
        stack.start_fal()
        stack.launch("fal-runner")
        stack.launch("prompt-llm")
        stack.launch("text-render")
        stack.launch("gateway-bot")

    with running_stack(tmp_path_factory.mktemp("presets"), postgres_admin_url, build) as stack:
        yield stack


async def document_size(user: TelegramUserClient, after: int) -> tuple[int, int]:
    document = await user.wait_for_message(predicate=is_document, after=after, timeout=60)
    with Image.open(io.BytesIO(await user.download(document.document.file_id))) as image:
        return image.size


async def test_m1_seedream_wildberries_card_has_exactly_its_pixels(stack: Stack) -> None:
    async with stack.user() as user:
        before = await balance_available(user)
        await user.send_text("🎨 Создать")
        models = await reply(user, lambda m: bool(m.reply_markup))
        await press(user, models, "Seedream")
        step = models.message_id - 1  # the steps edit the model message in place
        formats = await user.wait_for_message(predicate=contains("Выберите формат"), after=step)
        await press(user, formats, WB)
        await user.wait_for_message(predicate=contains("Напишите промпт"), after=step)
        await user.send_text("белые кроссовки на светлом фоне, студийный свет")
        assert await document_size(user, models.message_id) == (900, 1200)
        assert await balance_available(user) == before - 800
    async with httpx.AsyncClient() as client:
        submits = (await client.get(f"{stack.fal_url}/_emu/submits", params={"model": SEEDREAM})).json()
    assert {"width": 900, "height": 1200} in [s["body"].get("image_size") for s in submits]


async def test_m5_wildberries_card_crops_the_picture_to_exactly_its_pixels(stack: Stack) -> None:
    async with stack.user() as user:
        before = await balance_available(user)
        await user.send_text("📝 Добавить текст")
        await reply(user, lambda m: bool(m.reply_markup))
        await user.send_document(png_bytes((1600, 1200)), "shoe.png", mime_type="image/png")
        ask = await reply(user, contains("Введите текст"))
        await press(user, ask, WB)
        await user.wait_for_message(predicate=contains("обрезано по центру"), after=ask.message_id - 1)
        await user.send_text("Новинка 🔥")
        await reply(user, contains("/skip"))
        await user.send_command("skip")
        assert await document_size(user, ask.message_id) == (900, 1200)
        assert await balance_available(user) == before - 100
