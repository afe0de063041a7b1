"""The emulator's state and behaviour: one shop's payments, refunds and Idempotence-Keys, faults.

``server.YooKassaEmulator`` serves it over HTTP; the route modules take it from the app's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from medialab_sandbox.yookassa.config import CHECKOUT_PREFIX, EmulatorConfig
from medialab_sandbox.yookassa.control_models import EmulatorState
from medialab_sandbox.yookassa.faults import FaultPlan
from medialab_sandbox.yookassa.state import (
    FINAL,
    Payment,
    PaymentStatus,
    Refund,
    Remembered,
    new_id,
    view,
)
from medialab_sandbox.yookassa.webhooks import Notifier


@dataclass
class Records:
    gets: int = 0
    replays: int = 0  # POSTs answered from a remembered Idempotence-Key
    unauthorized: int = 0


class YooKassaBackend:
    """The YooKassa v3 API of one test shop, without the HTTP server (``server.YooKassaEmulator``).

    In process::

        async with YooKassaEmulator(EmulatorConfig(webhook_url=url)) as emu:
            settings.yookassa_api_base = emu.base_url
            emu.faults.deliveries(Delivery.DUPLICATE)
            emu.pay(payment_id)

    Standalone: ``python -m medialab_sandbox.yookassa --port 8791 --webhook-url URL``, driven from
    another process with ``YooKassaEmulatorControl(base_url)``.
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        # A private copy: knobs change it at run time, and callers may reuse their config.
        self.config = (config or EmulatorConfig()).model_copy()
        self._initial_config = self.config.model_copy()
        self.faults = FaultPlan()
        self.notifier = Notifier(self.config, self.faults)
        self.records = Records()
        self.payments: dict[str, Payment] = {}
        self.refunds: dict[str, Refund] = {}
        self.idempotence: dict[str, Remembered] = {}
        self._base_url: str | None = None  # where it is served, once it is

    @property
    def base_url(self) -> str:
        """What to put into `YOOKASSA_API_BASE` (the API is under `/v3`)."""
        if self._base_url is None:
            raise RuntimeError("emulator not started")
        return self._base_url

    # -- the shop's objects ------------------------------------------------------------------

    def create_payment(
        self,
        *,
        amount: Decimal,
        currency: str,
        capture: bool,
        return_url: str | None,
        description: str | None,
        metadata: dict[str, str],
        receipt: dict[str, Any] | None,
    ) -> Payment:
        payment = Payment(
            id=new_id(),
            amount=amount,
            currency=currency,
            capture=capture,
            return_url=return_url,
            description=description,
            metadata=metadata,
            receipt=receipt,
            test=self.config.secret_key.startswith("test_"),
        )
        self.payments[payment.id] = payment
        return payment

    def payment_body(self, payment: Payment, base: str | None = None) -> dict[str, Any]:
        base = (self.config.public_url or base or self.base_url).rstrip("/")
        return payment.body(self.config.shop_id, f"{base}{CHECKOUT_PREFIX}/{payment.id}")

    def pay(self, payment_id: str) -> None:
        """The user pays: pending → succeeded (or waiting_for_capture without `capture`), notified."""
        payment = self._pending(payment_id)
        if payment.capture:
            payment.status = PaymentStatus.SUCCEEDED
            payment.captured_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        else:
            payment.status = PaymentStatus.WAITING_FOR_CAPTURE
        self.notifier.notify(f"payment.{payment.status.value}", self.payment_body(payment))

    def cancel(self, payment_id: str, *, party: str, reason: str) -> None:
        """The payment ends canceled (the user gave up, it expired, the bank declined), notified."""
        payment = self._pending(payment_id)
        payment.status = PaymentStatus.CANCELED
        payment.cancellation = {"party": party, "reason": reason}
        self.notifier.notify("payment.canceled", self.payment_body(payment))

    def refund(self, payment: Payment, amount: Decimal, description: str | None) -> Refund:
        refund = Refund(new_id(), payment.id, amount, payment.currency, description)
        payment.refunded += amount
        self.refunds[refund.id] = refund
        self.notifier.notify("refund.succeeded", refund.body())
        return refund

    def forge(self, payment_id: str | None, event: str = "payment.succeeded") -> None:
        """Send a notification that lies: `event` for a payment that is not in that state (or does
        not exist), its body claiming a paid, succeeded payment of 1000 ₽."""
        target = self.payments.get(payment_id) if payment_id is not None else None
        body = (
            self.payment_body(target)
            if target is not None
            else {"id": payment_id or new_id(), "amount": {"value": "1000.00", "currency": "RUB"}}
        )
        body |= {"status": "succeeded", "paid": True, "amount": {"value": "1000.00", "currency": "RUB"}}
        self.notifier.notify(event, body, forged=True)

    def _pending(self, payment_id: str) -> Payment:
        payment = self.payments[payment_id]
        if payment.status in FINAL or payment.status is PaymentStatus.WAITING_FOR_CAPTURE:
            raise ValueError(f"payment {payment_id} is {payment.status.value}")
        return payment

    # -- knobs -------------------------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        """Change config fields at run time (validated as a whole before anything changes)."""
        patched = self.config.patched(changes)
        for name in changes:
            setattr(self.config, name, getattr(patched, name))

    def reset(self) -> None:
        """Back to just after start: no payments, keys, records, faults or held notifications."""
        self.notifier.clear()
        self.faults.clear()
        self.payments.clear()
        self.refunds.clear()
        self.idempotence.clear()
        self.records = Records()
        self.configure(**self._initial_config.model_dump())

    def state(self) -> EmulatorState:
        return EmulatorState(
            config=self.config,
            payments=[view(p) for p in self.payments.values()],
            deliveries=list(self.notifier.records),
            held=self.notifier.held,
            lost=len(self.notifier.dropped),
            in_flight=self.notifier.in_flight,
            gets=self.records.gets,
            replays=self.records.replays,
            faults=self.faults.pending(),
        )
