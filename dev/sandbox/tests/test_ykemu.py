"""YooKassa emulator: validation like the real API, idempotence, checkout, notifications and faults."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from medialab_sandbox.snapshots import snapshot
from medialab_sandbox.yookassa import Delivery, EmulatorConfig, Target, YooKassaEmulator
from medialab_testkit.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

SHOP, SECRET = "100500", "test_emu-secret"
CREATE = snapshot("yookassa create payment")
GET = snapshot("yookassa get payment")
REFUND = snapshot("yookassa create refund")
NOTIFICATION = snapshot("yookassa notification")


def body(value: str = "100.00", **extra: Any) -> dict[str, Any]:
    return {
        "amount": {"value": value, "currency": "RUB"},
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": "https://t.me/medialab_bot"},
        "description": "Пополнение баланса",
        "metadata": {"order_id": "abc"},
        "receipt": {
            "customer": {"email": "user@example.com"},
            "items": [
                {
                    "description": "Пополнение баланса",
                    "quantity": "1.00",
                    "amount": {"value": value, "currency": "RUB"},
                    "vat_code": 1,
                    "payment_mode": "full_prepayment",
                    "payment_subject": "service",
                }
            ],
        },
        **extra,
    }


class Receiver:
    """The shop's webhook endpoint: records every notification, answers `status` (the first
    `refuse_first` notifications with 503)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        self.refuse_first = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        return web.Response(status=503 if len(self.bodies) <= self.refuse_first else self.status)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    await recv.start()
    yield recv
    await recv.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(receiver: Receiver) -> AsyncIterator[YooKassaEmulator]:
    config = EmulatorConfig(shop_id=SHOP, secret_key=SECRET, webhook_url=receiver.url, webhook_retry_s=0.01)
    async with YooKassaEmulator(config) as emulator:
        yield emulator


@pytest_asyncio.fixture(loop_scope="module")
async def emu(server: YooKassaEmulator, receiver: Receiver) -> YooKassaEmulator:
    server.reset()
    receiver.bodies.clear()
    receiver.status = 200
    return server


@pytest_asyncio.fixture(loop_scope="module")
async def api(emu: YooKassaEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emu.base_url, auth=(SHOP, SECRET)) as client:
        yield client


async def create(api: httpx.AsyncClient, key: str, payload: dict[str, Any] | None = None) -> httpx.Response:
    return await api.post("/v3/payments", json=payload or body(), headers={"Idempotence-Key": key})


async def test_a_payment_is_created_once_per_idempotence_key(
    api: httpx.AsyncClient, emu: YooKassaEmulator
) -> None:
    first = await create(api, "key-1")
    assert first.status_code == 200, first.text
    assert CREATE.response_errors(first.json()) == []
    payment = first.json()
    assert (payment["status"], payment["paid"], payment["metadata"]) == (
        "pending",
        False,
        {"order_id": "abc"},
    )
    assert payment["confirmation"]["confirmation_url"].startswith(emu.base_url + "/checkout/")
    again = await create(api, "key-1")
    assert again.json()["id"] == payment["id"]
    other = await create(api, "key-1", body("200.00"))
    assert other.status_code == 400 and other.json()["parameter"] == "Idempotence-Key"
    assert len(emu.payments) == 1 and emu.records.replays == 1


@pytest.mark.parametrize(
    ("headers", "auth", "status", "parameter"),
    [
        ({}, (SHOP, SECRET), 400, "Idempotence-Key"),
        ({"Idempotence-Key": "k" * 65}, (SHOP, SECRET), 400, "Idempotence-Key"),
        ({"Idempotence-Key": "k"}, (SHOP, "test_wrong"), 401, None),
        ({"Idempotence-Key": "k"}, None, 401, None),
    ],
)
async def test_auth_and_the_idempotence_key_are_required(
    emu: YooKassaEmulator,
    headers: dict[str, str],
    auth: tuple[str, str] | None,
    status: int,
    parameter: str | None,
) -> None:
    async with httpx.AsyncClient(base_url=emu.base_url, auth=auth) as client:
        response = await client.post("/v3/payments", json=body(), headers=headers)
    assert response.status_code == status
    assert CREATE.error_errors(response.json()) == []
    assert response.json().get("parameter") == parameter
    assert emu.payments == {}


@pytest.mark.parametrize(
    ("change", "parameter"),
    [
        (lambda b: b.pop("receipt"), "receipt"),
        (lambda b: b["amount"].update(value=100), "amount.value"),
        (lambda b: b["amount"].update(value="100,00"), "amount.value"),
        (lambda b: b["amount"].update(value="100.001"), "amount.value"),
        (lambda b: b["receipt"].update(customer={}), "receipt.customer"),
        (lambda b: b["receipt"]["items"][0]["amount"].update(value="90.00"), "receipt.items"),
        (lambda b: b["receipt"]["items"][0].update(vat_code=13), "receipt.items.0.vat_code"),
        (lambda b: b["confirmation"].pop("return_url"), "confirmation"),
        (lambda b: b.update(metadata={"k": {"nested": 1}}), "metadata.k"),
    ],
)
async def test_bad_payments_are_refused_like_yookassa_does(
    api: httpx.AsyncClient, emu: YooKassaEmulator, change: Callable[[dict[str, Any]], Any], parameter: str
) -> None:
    payload = body()
    change(payload)
    response = await create(api, f"bad-{parameter}", payload)
    assert response.status_code == 400, response.text
    assert CREATE.error_errors(response.json()) == []
    assert response.json()["parameter"] == parameter
    assert emu.payments == {}


async def test_a_shop_without_receipts_takes_a_payment_without_one(
    api: httpx.AsyncClient, emu: YooKassaEmulator
) -> None:
    emu.configure(receipts_required=False)
    payload = body()
    del payload["receipt"]
    assert (await create(api, "no-receipt", payload)).status_code == 200


async def test_paying_at_the_checkout_notifies_and_get_tells_the_truth(
    api: httpx.AsyncClient, emu: YooKassaEmulator, receiver: Receiver
) -> None:
    payment = (await create(api, "pay-1")).json()
    page = await api.get(payment["confirmation"]["confirmation_url"])
    assert "Оплатить" in page.text
    paid = await api.post(payment["confirmation"]["confirmation_url"], params={"action": "pay"})
    assert paid.json()["status"] == "succeeded"
    await eventually(lambda: len(receiver.bodies) == 1)
    [note] = receiver.bodies
    assert NOTIFICATION.request_errors(note) == []
    assert (note["event"], note["object"]["id"]) == ("payment.succeeded", payment["id"])
    got = (await api.get(f"/v3/payments/{payment['id']}")).json()
    assert GET.response_errors(got) == []
    assert (got["status"], got["paid"], got["amount"]["value"]) == ("succeeded", True, "100.00")
    assert "confirmation" not in got
    again = await api.post(payment["confirmation"]["confirmation_url"], params={"action": "pay"})
    assert again.status_code == 409
    browser = await api.post(
        payment["confirmation"]["confirmation_url"], params={"action": "pay"}, headers={"Accept": "text/html"}
    )
    assert browser.status_code == 409 and "Платёж уже succeeded" in browser.text

    missing = await api.get("/v3/payments/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and GET.error_errors(missing.json()) == []


async def test_cancelling_at_the_checkout(
    api: httpx.AsyncClient, emu: YooKassaEmulator, receiver: Receiver
) -> None:
    payment = (await create(api, "cancel-1")).json()
    await api.post(payment["confirmation"]["confirmation_url"], params={"action": "cancel"})
    await eventually(lambda: len(receiver.bodies) == 1)
    assert receiver.bodies[0]["event"] == "payment.canceled"
    got = (await api.get(f"/v3/payments/{payment['id']}")).json()
    assert (got["status"], got["paid"], got["cancellation_details"]["party"]) == (
        "canceled",
        False,
        "yoo_kassa",
    )


async def test_delivery_faults_duplicate_lost_held_and_forged(
    api: httpx.AsyncClient, emu: YooKassaEmulator, receiver: Receiver
) -> None:
    ids = [(await create(api, f"f-{n}")).json()["id"] for n in range(4)]
    emu.faults.deliveries(Delivery.DUPLICATE)
    emu.faults.deliveries(Delivery.LOST)
    emu.faults.deliveries(Delivery.HOLD, 2)
    for payment_id in ids:
        emu.pay(payment_id)
    await emu.notifier.idle()
    assert [b["object"]["id"] for b in receiver.bodies] == [ids[0], ids[0]]
    assert emu.state().lost == 1 and emu.state().held == 2
    emu.notifier.release_held(reverse=True)
    await eventually(lambda: len(receiver.bodies) == 4)
    assert {b["object"]["id"] for b in receiver.bodies[2:]} == {ids[2], ids[3]}

    pending = (await create(api, "f-pending")).json()["id"]
    emu.forge(pending)
    emu.forge(None)
    await eventually(lambda: len(receiver.bodies) == 6)
    forged = receiver.bodies[4:]
    assert all(b["object"]["status"] == "succeeded" for b in forged)
    assert emu.payments[pending].status.value == "pending"
    assert [r.forged for r in emu.notifier.records[-2:]] == [True, True]


async def test_a_notification_is_delivered_again_until_answered_200(
    api: httpx.AsyncClient, emu: YooKassaEmulator, receiver: Receiver
) -> None:
    receiver.refuse_first = 2
    payment_id = (await create(api, "retry-1")).json()["id"]
    emu.pay(payment_id)
    await eventually(lambda: len(receiver.bodies) >= 3)
    await emu.notifier.idle()
    assert emu.notifier.records[-1].status_code == 200
    assert all(b["object"]["id"] == payment_id for b in receiver.bodies)


async def test_server_errors_on_create_and_get(api: httpx.AsyncClient, emu: YooKassaEmulator) -> None:
    emu.faults.fail(Target.CREATE, 500, after_create=True)
    lost = await create(api, "lost-answer")
    assert lost.status_code == 500 and CREATE.error_errors(lost.json()) == []
    assert len(emu.payments) == 1
    retried = await create(api, "lost-answer")
    assert retried.json()["id"] in emu.payments and len(emu.payments) == 1

    emu.faults.fail(Target.CREATE, 503)
    assert (await create(api, "refused")).status_code == 503
    assert len(emu.payments) == 1

    emu.faults.fail(Target.GET, 502, count=2)
    url = f"/v3/payments/{retried.json()['id']}"
    assert [(await api.get(url)).status_code for _ in range(3)] == [502, 502, 200]
    with pytest.raises(ValueError, match="create and refund"):
        emu.faults.fail(Target.GET, 500, after_create=True)


async def test_refunds_only_a_succeeded_payment_up_to_its_amount(
    api: httpx.AsyncClient, emu: YooKassaEmulator, receiver: Receiver
) -> None:
    payment_id = (await create(api, "refund-me")).json()["id"]
    ask = {"payment_id": payment_id, "amount": {"value": "100.00", "currency": "RUB"}}
    early = await api.post("/v3/refunds", json=ask, headers={"Idempotence-Key": "r-early"})
    assert early.status_code == 400
    emu.pay(payment_id)
    refund = await api.post("/v3/refunds", json=ask, headers={"Idempotence-Key": "r-1"})
    assert refund.status_code == 200 and REFUND.response_errors(refund.json()) == []
    repeat = await api.post("/v3/refunds", json=ask, headers={"Idempotence-Key": "r-1"})
    assert repeat.json()["id"] == refund.json()["id"]
    more = await api.post("/v3/refunds", json=ask, headers={"Idempotence-Key": "r-2"})
    assert more.status_code == 400 and more.json()["parameter"] == "amount.value"
    await eventually(lambda: any(b["event"] == "refund.succeeded" for b in receiver.bodies))
    got = (await api.get(f"/v3/payments/{payment_id}")).json()
    assert (got["refunded_amount"]["value"], got["refundable"]) == ("100.00", False)
