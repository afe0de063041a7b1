"""Paid calls need balance: a user who cannot pay for the job makes the bot spend nothing on the LLM.

Seedream wants English, so the gateway has the prompt translated (an LLM call on our fal account)
before it reserves. With a zero balance the user hears the price and the balance, and neither the
LLM nor the image model is ever called. Whole stack: billing real, providers emulated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from medialab_testkit.e2e import Stack, contains, press, reply, running_stack

pytestmark = pytest.mark.e2e


def zero_credit_stack(stack: Stack) -> None:
    stack.launch("billing", WELCOME_CREDIT="0")
    stack.start_fal()
    stack.launch("fal-runner")
    stack.launch("prompt-llm")
    stack.launch("gateway-bot")


@pytest.fixture
def stack(tmp_path: Path, postgres_admin_url: str) -> Iterator[Stack]:
    with running_stack(tmp_path, postgres_admin_url, zero_credit_stack) as stack:
        yield stack


async def test_a_user_at_zero_gets_no_translation_and_no_job(stack: Stack) -> None:
    async with stack.user() as user:
        await user.send_text("🎨 Создать")
        models = await reply(user, lambda m: bool(m.reply_markup))
        await press(user, models, "Seedream")
        formats = await user.wait_for_message(predicate=contains("Выберите формат"), timeout=10)
        await press(user, formats, "Горизонтальное")
        await user.wait_for_message(predicate=contains("Напишите промпт"), timeout=10)
        await user.send_text("горный пейзаж на рассвете")
        refusal = await reply(user, contains("Недостаточно средств"), timeout=20)
        assert "доступно 0 ₽" in refusal.text
    async with httpx.AsyncClient() as client:
        calls = (await client.get(f"{stack.fal_url}/_emu/submits")).json()
    assert calls == []  # no LLM call, no image job
