"""What the control endpoints answer about the emulator as a whole."""

from __future__ import annotations

from pydantic import BaseModel

from medialab_sandbox.yookassa.config import EmulatorConfig
from medialab_sandbox.yookassa.faults import PendingFaults
from medialab_sandbox.yookassa.state import PaymentView
from medialab_sandbox.yookassa.webhooks import DeliveryRecord


class EmulatorState(BaseModel):
    config: EmulatorConfig
    payments: list[PaymentView]
    deliveries: list[DeliveryRecord]
    held: int
    lost: int
    in_flight: int
    gets: int
    replays: int
    faults: PendingFaults
