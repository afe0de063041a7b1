"""The YooKassa client against the emulator: one payment per Idempotence-Key across retries, 404 as
"unknown", refusals and outages typed, and the secret key in no error or log line."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from medialab_sandbox.yookassa import EmulatorConfig, Target, YooKassaEmulator
from payments.settings import PaymentsSettings
from payments.yookassa import YooKassaClient, YooKassaError, YooKassaUnavailable

pytestmark = pytest.mark.asyncio(loop_scope="module")

SHOP, SECRET = "100500", "test_client-secret-value"


def body() -> dict[str, Any]:
    return {
        "amount": {"value": "100.00", "currency": "RUB"},
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": "https://t.me/bot"},
        "metadata": {"order_id": "abc"},
    }


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[YooKassaEmulator]:
    config = EmulatorConfig(shop_id=SHOP, secret_key=SECRET, receipts_required=False)
    async with YooKassaEmulator(config) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def emu(server: YooKassaEmulator) -> YooKassaEmulator:
    server.reset()
    return server


def client(emu: YooKassaEmulator, secret: str = SECRET) -> YooKassaClient:
    settings = PaymentsSettings(
        yookassa_shop_id=SHOP,
        yookassa_secret_key=secret,
        yookassa_api_base=emu.base_url,
        yookassa_attempts=3,
        yookassa_retry_base_s=0.01,
    )
    return YooKassaClient(settings)


async def test_a_lost_answer_is_retried_into_the_same_payment(emu: YooKassaEmulator) -> None:
    yk = client(emu)
    emu.faults.fail(Target.CREATE, 500, after_create=True)
    emu.faults.fail(Target.CREATE, 503)
    payment = await yk.create_payment(body(), "order-1")
    assert list(emu.payments) == [payment.id] and emu.records.replays == 1
    assert payment.confirmation is not None and payment.confirmation.confirmation_url
    got = await yk.get_payment(payment.id)
    assert got is not None and (got.status, got.amount.kopecks, got.metadata) == (
        "pending",
        10_000,
        {"order_id": "abc"},
    )
    assert await yk.get_payment("00000000-0000-0000-0000-000000000000") is None
    await yk.aclose()


async def test_refusals_and_outages_are_typed_and_never_name_the_secret(
    emu: YooKassaEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = client(emu, secret="test_a-wrong-secret-value")
    with pytest.raises(YooKassaError) as refused:
        await wrong.create_payment(body(), "order-2")
    assert refused.value.status == 401 and "wrong-secret" not in str(refused.value)
    await wrong.aclose()

    yk = client(emu)
    emu.faults.fail(Target.GET, 502, count=3)
    with pytest.raises(YooKassaUnavailable):
        await yk.get_payment("00000000-0000-0000-0000-000000000000")
    bad = {**body(), "amount": {"value": "100,00", "currency": "RUB"}}
    with pytest.raises(YooKassaError) as invalid:
        await yk.create_payment(bad, "order-3")
    assert (invalid.value.status, invalid.value.parameter) == (400, "amount.value")
    await yk.aclose()
    assert SECRET not in caplog.text and "wrong-secret" not in caplog.text


async def test_a_refund_is_made_once_per_key(emu: YooKassaEmulator) -> None:
    yk = client(emu)
    payment = await yk.create_payment(body(), "order-4")
    emu.pay(payment.id)
    first = await yk.create_refund(payment.id, 10_000, f"refund-{payment.id}")
    again = await yk.create_refund(payment.id, 10_000, f"refund-{payment.id}")
    assert first.id == again.id and len(emu.refunds) == 1
    assert first.amount.kopecks == 10_000
    await yk.aclose()
