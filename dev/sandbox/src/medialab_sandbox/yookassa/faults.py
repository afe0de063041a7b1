"""Injected faults: one-shot HTTP errors of the API and misbehaving notification deliveries."""

from __future__ import annotations

from collections import deque
from enum import StrEnum

from pydantic import BaseModel, Field


class Target(StrEnum):
    """Which API call an HTTP fault hits."""

    CREATE = "create"  # POST /v3/payments
    GET = "get"  # GET /v3/payments/{id}
    REFUND = "refund"  # POST /v3/refunds


class HttpFault(BaseModel):
    status: int = Field(ge=400, le=599)
    after_create: bool = Field(
        default=False,
        description="create/refund only: the object is made (and the Idempotence-Key remembered), only the "
        "answer is the error — a 500 whose outcome the client cannot know",
    )


class Delivery(StrEnum):
    """What happens to the next notifications YooKassa sends."""

    DUPLICATE = "duplicate"  # delivered twice
    LOST = "lost"  # never delivered
    HOLD = "hold"  # kept until `release_held` (then delivered, possibly in another order)


class PendingFaults(BaseModel):
    http: dict[Target, list[HttpFault]]
    deliveries: list[Delivery]


class FaultPlan:
    def __init__(self) -> None:
        self._http: dict[Target, deque[HttpFault]] = {t: deque() for t in Target}
        self._deliveries: deque[Delivery] = deque()

    def fail(self, target: Target, status: int, count: int = 1, *, after_create: bool = False) -> None:
        if after_create and target is Target.GET:
            raise ValueError("after_create applies to create and refund only")
        self._http[Target(target)].extend([HttpFault(status=status, after_create=after_create)] * count)

    def deliveries(self, mode: Delivery, count: int = 1) -> None:
        """The next `count` notifications are delivered per `mode`."""
        self._deliveries.extend([Delivery(mode)] * count)

    def next_http(self, target: Target) -> HttpFault | None:
        queue = self._http[target]
        return queue.popleft() if queue else None

    def next_delivery(self) -> Delivery | None:
        return self._deliveries.popleft() if self._deliveries else None

    def pending(self) -> PendingFaults:
        return PendingFaults(
            http={target: list(queue) for target, queue in self._http.items()},
            deliveries=list(self._deliveries),
        )

    def clear(self) -> None:
        for queue in self._http.values():
            queue.clear()
        self._deliveries.clear()
