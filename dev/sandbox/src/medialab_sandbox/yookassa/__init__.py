"""YooKassa API v3 emulator: one shop's payments, refunds and notifications, with faults.

Requests are held to the snapshots in ``medialab_sandbox/snapshots/yookassa`` (Basic auth with
shopId:secretKey, an Idempotence-Key on every POST and honoured, the 54-FZ receipt when the shop
sends receipts, amounts as "100.00" strings). A payment's ``confirmation_url`` is the emulator's
own checkout page, where ``POST ?action=pay`` pays it. Notifications go to ``webhook_url`` and can
be duplicated, lost, held and released out of order, or forged.
"""

from medialab_sandbox.yookassa.config import EmulatorConfig
from medialab_sandbox.yookassa.control_client import YooKassaEmulatorControl
from medialab_sandbox.yookassa.control_models import EmulatorState
from medialab_sandbox.yookassa.faults import Delivery, Target
from medialab_sandbox.yookassa.server import YooKassaEmulator
from medialab_sandbox.yookassa.state import PaymentStatus, PaymentView
from medialab_sandbox.yookassa.webhooks import DeliveryRecord

__all__ = [
    "Delivery",
    "DeliveryRecord",
    "EmulatorConfig",
    "EmulatorState",
    "PaymentStatus",
    "PaymentView",
    "Target",
    "YooKassaEmulator",
    "YooKassaEmulatorControl",
]
