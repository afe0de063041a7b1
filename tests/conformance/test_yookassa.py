"""The payments service and the YooKassa emulator against the YooKassa snapshots (issue 20)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from medialab_contracts.payments import OrderStatus, YooKassaOrder
from medialab_sandbox.snapshots import invalid_requests, snapshot
from medialab_sandbox.yookassa import EmulatorConfig, YooKassaEmulator
from payments.service import payment_body
from payments.settings import PaymentsSettings
from payments.webhook import Notification
from payments.yookassa import YooPayment
from pydantic import ValidationError

CREATE = snapshot("yookassa create payment")
GET = snapshot("yookassa get payment")
REFUND = snapshot("yookassa create refund")
NOTIFICATION = snapshot("yookassa notification")
SHOP, SECRET = "100500", "test_conformance"
_keys = itertools.count()


def settings(**overrides: Any) -> PaymentsSettings:
    return PaymentsSettings(yookassa_shop_id=SHOP, yookassa_secret_key=SECRET, **overrides)


def order(amount: int) -> YooKassaOrder:
    return YooKassaOrder(
        order_id="0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        user_id=1,
        amount=amount,
        status=OrderStatus.pending,
        created_at=datetime.now(UTC),
        email="payer@example.com",
    )


@pytest.mark.parametrize("amount", [100, 5_000, 10_001, 99_999_999])
@pytest.mark.parametrize("receipts", [True, False])
def test_the_payment_body_matches_the_create_snapshot(amount: int, receipts: bool) -> None:
    body = payment_body(order(amount), settings(receipts=receipts))
    assert CREATE.request_errors(body) == []
    assert ("receipt" in body) is receipts


@pytest.mark.parametrize("answer", CREATE.examples.response + GET.examples.response)
def test_the_service_reads_every_payment_example(answer: dict[str, Any]) -> None:
    payment = YooPayment.model_validate(answer)
    assert (payment.id, payment.status, payment.paid) == (answer["id"], answer["status"], answer["paid"])
    assert payment.amount.kopecks == round(float(answer["amount"]["value"]) * 100)


def test_the_service_refuses_a_payment_without_id() -> None:
    answer = {k: v for k, v in GET.examples.response[0].items() if k != "id"}
    assert GET.response_errors(answer)
    with pytest.raises(ValidationError):
        YooPayment.model_validate(answer)


@pytest.mark.parametrize("body", NOTIFICATION.examples.request)
def test_the_webhook_reads_every_notification_example(body: dict[str, Any]) -> None:
    note = Notification.model_validate(body)
    assert (note.event, note.object.id) == (body["event"], body["object"]["id"])


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def emu() -> AsyncIterator[YooKassaEmulator]:
    async with YooKassaEmulator(
        EmulatorConfig(shop_id=SHOP, secret_key=SECRET, receipts_required=False)
    ) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def api(emu: YooKassaEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emu.base_url, auth=(SHOP, SECRET)) as client:
        yield client


async def post(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await api.post(path, json=body, headers={"Idempotence-Key": f"conformance-{next(_keys)}"})


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("example", CREATE.examples.request)
async def test_the_emulator_accepts_every_create_example_and_answers_in_shape(
    api: httpx.AsyncClient, example: dict[str, Any]
) -> None:
    response = await post(api, "/v3/payments", example)
    assert response.status_code == 200, response.text
    assert CREATE.response_errors(response.json()) == []
    got = await api.get(f"/v3/payments/{response.json()['id']}")
    assert GET.response_errors(got.json()) == []


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    ("label", "body"), invalid_requests(CREATE, CREATE.examples.request[0]), ids=lambda v: str(v)[:40]
)
async def test_the_emulator_refuses_what_the_create_snapshot_refuses(
    api: httpx.AsyncClient, label: str, body: dict[str, Any]
) -> None:
    response = await post(api, "/v3/payments", body)
    assert response.status_code == 400, label
    assert CREATE.error_errors(response.json()) == []


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    ("label", "body"), invalid_requests(REFUND, REFUND.examples.request[0]), ids=lambda v: str(v)[:40]
)
async def test_the_emulator_refuses_what_the_refund_snapshot_refuses(
    api: httpx.AsyncClient, emu: YooKassaEmulator, label: str, body: dict[str, Any]
) -> None:
    paid = (await post(api, "/v3/payments", CREATE.examples.request[0])).json()["id"]
    emu.pay(paid)
    if "payment_id" in body:
        body = {**body, "payment_id": paid if isinstance(body["payment_id"], str) else body["payment_id"]}
    response = await post(api, "/v3/refunds", body)
    assert response.status_code == 400, label
    assert REFUND.error_errors(response.json()) == []
