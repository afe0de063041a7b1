"""Drive a YooKassa emulator of another process over its `/_emu` routes (tests, the dev stack)."""

from __future__ import annotations

import httpx

from medialab_sandbox.lifecycle import Closable
from medialab_sandbox.yookassa.control_models import EmulatorState
from medialab_sandbox.yookassa.faults import Delivery, Target
from medialab_sandbox.yookassa.state import PaymentView


class YooKassaEmulatorControl(Closable):
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/") + "/_emu", timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def state(self) -> EmulatorState:
        return EmulatorState.model_validate(await self._call("GET", "/state"))

    async def configure(self, **changes: object) -> None:
        await self._call("PATCH", "/config", changes)

    async def fail(self, target: Target, status: int, count: int = 1, *, after_create: bool = False) -> None:
        await self._call(
            "POST", f"/faults/http/{target}", {"status": status, "count": count, "after_create": after_create}
        )

    async def deliveries(self, mode: Delivery, count: int = 1) -> None:
        await self._call("POST", "/faults/deliveries", {"mode": mode, "count": count})

    async def release_held(self, *, reverse: bool = True) -> None:
        await self._call("POST", "/deliveries/release", {"reverse": reverse})

    async def forge(self, payment_id: str | None = None, event: str = "payment.succeeded") -> None:
        await self._call("POST", "/deliveries/forge", {"payment_id": payment_id, "event": event})

    async def pay(self, payment_id: str) -> PaymentView:
        return PaymentView.model_validate(await self._call("POST", f"/payments/{payment_id}/pay"))

    async def cancel(self, payment_id: str) -> PaymentView:
        return PaymentView.model_validate(await self._call("POST", f"/payments/{payment_id}/cancel"))

    async def reset(self) -> None:
        await self._call("POST", "/reset")

    async def _call(self, method: str, path: str, body: object = None) -> object:
        response = await self._http.request(method, path, json=body)
        response.raise_for_status()
        return response.json()
