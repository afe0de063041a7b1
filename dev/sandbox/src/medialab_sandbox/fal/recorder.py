"""What tests inspect: submits, cancels, LLM calls, webhook deliveries and per-account concurrency.

Concurrency is counted two ways per account (a key not assigned to one is its own account):
- ``in_flight``: from an accepted submit until the request is COMPLETED or cancelled (what a
  client holding a fal slot per request keeps busy; the guarantee "at most N per key" is about it);
- ``running``: IN_PROGRESS only (what fal's concurrency limit governs; IN_QUEUE does not count).
Both keep their maximum since the last ``reset_concurrency()``.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field


class SubmitRecord(BaseModel):
    key: str
    model_id: str
    body: dict[str, Any]
    webhook_url: str | None = None
    request_id: str | None = None  # None when the submit was rejected
    rejected_status: int | None = None
    # X-Fal-Request-Timeout (seconds to start) and X-Fal-Object-Lifecycle-Preference as sent.
    request_timeout_s: float | None = None
    lifecycle: dict[str, Any] | None = None
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class CancelRecord(BaseModel):
    request_id: str
    status: str  # what the emulator answered: CANCELLATION_REQUESTED or ALREADY_COMPLETED
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class LlmCall(BaseModel):
    request_id: str
    model: str
    prompt: str
    system_prompt: str | None


class WebhookDelivery(BaseModel):
    request_id: str
    url: str
    payload: dict[str, Any]
    attempts: int
    status_code: int | None  # last HTTP status seen, None if no answer at all
    delivered: bool


class KeyConcurrency(BaseModel):
    in_flight: int = 0
    max_in_flight: int = 0
    running: int = 0
    max_running: int = 0


class Recorder:
    def __init__(self) -> None:
        self.submits: list[SubmitRecord] = []
        self.llm_calls: list[LlmCall] = []
        self.webhooks: list[WebhookDelivery] = []
        # X-Fal-Object-Lifecycle-Preference of each CDN upload, in order (None: not sent).
        self.upload_lifecycles: list[dict[str, Any] | None] = []
        self.cancels: list[CancelRecord] = []
        self._concurrency: dict[str, KeyConcurrency] = {}

    def clear(self) -> None:
        """Forget records; live in-flight counts stay (those requests still exist)."""
        self.submits.clear()
        self.llm_calls.clear()
        self.webhooks.clear()
        self.upload_lifecycles.clear()
        self.cancels.clear()
        self.reset_concurrency()

    def find_submits(self, model: str | None = None, key: str | None = None) -> list[SubmitRecord]:
        return [
            record
            for record in self.submits
            if (model is None or record.model_id == model) and (key is None or record.key == key)
        ]

    def counts_by_model(self) -> dict[str, int]:
        return dict(Counter(r.model_id for r in self.submits if r.request_id is not None))

    def counts_by_key(self) -> dict[str, int]:
        return dict(Counter(r.key for r in self.submits if r.request_id is not None))

    def concurrency(self, key: str) -> KeyConcurrency:
        return self._concurrency.setdefault(key, KeyConcurrency()).model_copy()

    def all_concurrency(self) -> dict[str, KeyConcurrency]:
        return {key: stats.model_copy() for key, stats in self._concurrency.items()}

    def reset_concurrency(self) -> None:
        """Restart the maxima from the current values."""
        for stats in self._concurrency.values():
            stats.max_in_flight = stats.in_flight
            stats.max_running = stats.running

    def request_accepted(self, key: str) -> None:
        stats = self._concurrency.setdefault(key, KeyConcurrency())
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)

    def request_started(self, key: str) -> None:
        stats = self._concurrency.setdefault(key, KeyConcurrency())
        stats.running += 1
        stats.max_running = max(stats.max_running, stats.running)

    def request_finished(self, key: str, was_running: bool) -> None:
        stats = self._concurrency.setdefault(key, KeyConcurrency())
        stats.in_flight -= 1
        if was_running:
            stats.running -= 1
