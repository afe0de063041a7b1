"""Notifications to the shop's URL: retried until an HTTP 200, with injected delivery faults."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from pydantic import BaseModel

from medialab_sandbox.yookassa.config import EmulatorConfig
from medialab_sandbox.yookassa.faults import Delivery, FaultPlan

log = logging.getLogger(__name__)


class DeliveryRecord(BaseModel):
    event: str
    object_id: str
    forged: bool
    attempt: int
    status_code: int | None  # None: the URL could not be reached


class Notifier:
    def __init__(self, config: EmulatorConfig, faults: FaultPlan) -> None:
        self._config = config
        self._faults = faults
        self._held: list[tuple[dict[str, Any], bool]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._client = httpx.AsyncClient()
        self.records: list[DeliveryRecord] = []
        self.dropped: list[dict[str, Any]] = []  # lost on purpose (fault LOST)

    def notify(self, event: str, obj: dict[str, Any], *, forged: bool = False) -> None:
        """Send `{type: notification, event, object}` in the background, as YooKassa does."""
        body = {"type": "notification", "event": event, "object": obj}
        mode = self._faults.next_delivery()
        if mode is Delivery.LOST:
            self.dropped.append(body)
            return
        if mode is Delivery.HOLD:
            self._held.append((body, forged))
            return
        self._send(body, forged)
        if mode is Delivery.DUPLICATE:
            self._send(body, forged)

    def release_held(self, *, reverse: bool = True) -> int:
        """Deliver the held notifications, newest first unless `reverse` is False; how many."""
        held, self._held = self._held, []
        for body, forged in reversed(held) if reverse else held:
            self._send(body, forged)
        return len(held)

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def _send(self, body: dict[str, Any], forged: bool) -> None:
        task = asyncio.create_task(self._deliver(body, forged), name="yookassa notification")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, body: dict[str, Any], forged: bool) -> None:
        url = self._config.webhook_url
        if url is None:
            return
        for attempt in range(1, self._config.webhook_attempts + 1):
            status: int | None = None
            try:
                response = await self._client.post(url, json=body, timeout=self._config.webhook_timeout_s)
                status = response.status_code
            except httpx.HTTPError as error:
                log.info("notification to %s failed: %r", url, error)
            self.records.append(
                DeliveryRecord(
                    event=body["event"],
                    object_id=body["object"]["id"],
                    forged=forged,
                    attempt=attempt,
                    status_code=status,
                )
            )
            if status == 200:
                return
            await asyncio.sleep(self._config.webhook_retry_s)

    async def idle(self) -> None:
        """Wait until every started delivery ended (held ones are not started)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def clear(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._held.clear()
        self.records.clear()
        self.dropped.clear()

    async def close(self) -> None:
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await self._client.aclose()
