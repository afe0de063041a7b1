"""What the emulator saw: every submit, poll, upload and download, counters and concurrency.

Times are `time.monotonic()` of the emulator process: compare them with each other only.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, Field

PollPath = Literal["result", "bare"]
UploadFlow = Literal["ticket", "binary"]


class SubmitRecord(BaseModel):
    at: float
    account: str | None
    model: str
    body: Any
    query: dict[str, str] = Field(default_factory=dict)
    sync: bool = False
    status_code: int = 200
    task_id: str | None = None


class PollRecord(BaseModel):
    at: float
    task_id: str
    account: str | None
    path: PollPath
    status_code: int = 200
    task_status: str | None = None


class UploadRecord(BaseModel):
    at: float
    account: str
    flow: UploadFlow
    filename: str
    content_type: str
    size: int
    media_id: str
    download_url: str
    completed: bool


class DownloadRecord(BaseModel):
    at: float
    media_id: str
    status_code: int


class ConcurrencyGauge(BaseModel):
    current: int = 0
    max_seen: int = 0

    def up(self) -> None:
        self.current += 1
        self.max_seen = max(self.max_seen, self.current)

    def down(self) -> None:
        self.current -= 1


class Recorder:
    """Plain lists and counters; the emulator runs on one event loop, so no locking."""

    def __init__(self) -> None:
        self.submits: list[SubmitRecord] = []
        self.polls: list[PollRecord] = []
        self.uploads: list[UploadRecord] = []
        self.downloads: list[DownloadRecord] = []
        self.counts: Counter[str] = Counter()
        self._processing: dict[str, ConcurrencyGauge] = {}
        self._processing_total = ConcurrencyGauge()

    def task_started(self, account: str) -> None:
        self._processing.setdefault(account, ConcurrencyGauge()).up()
        self._processing_total.up()

    def task_finished(self, account: str) -> None:
        self._processing[account].down()
        self._processing_total.down()

    def processing_now(self, account: str | None = None) -> int:
        return self._gauge(account).current

    def max_processing_seen(self, account: str | None = None) -> int:
        """Most tasks of `account` (or of all accounts) ever `processing` at the same moment."""
        return self._gauge(account).max_seen

    def poll_times(self, task_id: str) -> list[float]:
        return [poll.at for poll in self.polls if poll.task_id == task_id]

    def clear(self) -> None:
        """Forget history; running tasks stay counted and maxima restart from the current level."""
        self.submits.clear()
        self.polls.clear()
        self.uploads.clear()
        self.downloads.clear()
        self.counts.clear()
        for gauge in (*self._processing.values(), self._processing_total):
            gauge.max_seen = gauge.current

    def _gauge(self, account: str | None) -> ConcurrencyGauge:
        if account is None:
            return self._processing_total
        return self._processing.get(account, ConcurrencyGauge())
