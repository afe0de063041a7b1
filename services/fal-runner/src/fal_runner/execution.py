"""One fal request under a provider slot: submit (or resume), poll with backoff, fetch the result.

The slot of the key's account covers the time the request is at fal, from submit until its status
reads COMPLETED; input uploads happen before, the result and output downloads after, so an account's
slots stay busy with provider work only. fal counts only IN_PROGRESS requests against the account,
but a queued request may start at any moment without asking us, so its slot must already be ours;
as we never submit beyond the account's limit, our requests sit IN_QUEUE only while fal finds them
a runner. Waiting for the account's limit happens in our queue (docs/provider-slots.md).

Status polls follow fal's own client (every 0.1 s) or slower: never more than once per
``FAL_POLL_MIN_S`` of a request's age, backing off in proportion to it, and sparser while fal
reports the request queued behind others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from medialab_contracts.events import FailureReason
from medialab_runtime.eta import OnQueued, RecentDurations, slot_waiter
from medialab_runtime.provider_keys import ProviderKey
from medialab_runtime.slots import SlotPool, SlotTimeout

from fal_runner.fal_api import FalClient, FalRejected, FalUnreachable, QueueStatus, RequestGone, Submission
from fal_runner.key_rotation import KeyRotation
from fal_runner.metrics import PROVIDER_SECONDS

log = logging.getLogger(__name__)

OnSubmitted = Callable[[Submission, ProviderKey], Awaitable[None]]
OnStatus = Callable[[QueueStatus], Awaitable[None]]
# Asked between status polls (at most once per ``CANCEL_CHECK_S``): did the job's owner cancel it?
CancelWanted = Callable[[], Awaitable[bool]]
CANCEL_CHECK_S = 1.0


class DeadlineExceeded(Exception):
    """The caller's time ran out (waiting for a slot, or at fal; the request was cancelled)."""

    def __init__(self, detail: str, *, waiting_for_slot: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.waiting_for_slot = waiting_for_slot


class CancelledAtFal(Exception):
    """The owner cancelled the job: before its request was submitted, or fal ended it without a result
    after we cancelled it there."""


@dataclass(frozen=True)
class PollPolicy:
    """When to ask fal about a request again, ``elapsed`` seconds after it started running.

    The budget: a request is polled at most once per ``min_s`` of its age (its n-th poll not before
    ``(n - 1) × min_s`` after submit), so it never costs fal more status calls than fal's own client
    (every 0.1 s) would.
    Plain: right away, then every ``max(min_s, ratio × elapsed)`` up to ``max_s``, so noticing a
    completion late costs about ``ratio / 2`` of any request's time.
    With a ``window`` (recent requests of the model all finished within it): sparse polls until it
    opens, dense ones (``fine × elapsed``, at least ``fine_min_s``) inside it as far as the polls
    saved before it allow, plain ones after it. A steady model is then noticed within a percent or
    two of its time, with fewer polls than the plain schedule.
    """

    min_s: float = 0.1
    max_s: float = 2.0
    ratio: float = 0.1
    sparse_ratio: float = 0.25
    fine_ratio: float = 0.01
    fine_min_s: float = 0.02

    def queued_delay(self, queued_s: float, position: int | None) -> float:
        """While fal reports the request IN_QUEUE: it cannot finish before it starts, and each request
        ahead of it (``position``) must start first, so look less often the further back it is."""
        return min(self.max_s, max(self.min_s, self.ratio * queued_s) * (1 + (position or 0)))

    def next_delay(
        self, elapsed: float, window: tuple[float, float] | None = None, *, age: float, polls: int
    ) -> float:
        """The pause before the next poll, ``polls`` of them made in the request's ``age`` so far."""
        budget = polls * self.min_s - age  # the next poll is number polls + 1
        if window is None or elapsed >= window[1]:
            wanted = self._proportional(elapsed, self.ratio)
        elif elapsed < window[0]:
            wanted = max(self.min_s, min(self._proportional(elapsed, self.sparse_ratio), window[0] - elapsed))
        else:
            wanted = min(self.max_s, max(self.fine_min_s, self.fine_ratio * elapsed))
        return max(wanted, budget)

    def _proportional(self, elapsed: float, ratio: float) -> float:
        return min(self.max_s, max(self.min_s, ratio * elapsed))


class Expectations:
    """When requests of each model finish: a window around their last few durations, if steady."""

    def __init__(self, remembered: int = 10, steady_spread: float = 1.5, margin: float = 0.05) -> None:
        self._remembered = remembered
        self._steady_spread = steady_spread
        self._margin = margin
        self._seconds: dict[str, deque[float]] = {}

    def window(self, model_id: str) -> tuple[float, float] | None:
        recent = self._seconds.get(model_id)
        if recent is None or len(recent) < 3:
            return None
        low, high = min(recent), max(recent)
        if high > low * self._steady_spread:
            return None  # durations vary too much for a window to pay off
        return low * (1 - self._margin), high * (1 + self._margin)

    def observe(self, model_id: str, seconds: float) -> None:
        self._seconds.setdefault(model_id, deque(maxlen=self._remembered)).append(seconds)


@dataclass(frozen=True)
class Resume:
    """A request submitted by an earlier delivery of the same job."""

    submission: Submission
    key_fingerprint: str


@dataclass(frozen=True)
class FalResult:
    body: dict[str, Any]
    key: ProviderKey
    provider_ms: int


async def _nothing(_: QueueStatus) -> None:
    return None


class _KeyRefused(Exception):
    """fal refused the key of a submit and another key is in rotation: submit again on it."""


class FalExecutor:
    def __init__(self, client: FalClient, slots: SlotPool, poll: PollPolicy, keys: KeyRotation) -> None:
        self.client = client
        self.slots = slots
        self._poll = poll
        self._keys = keys
        self._expected = Expectations()
        self._holds = RecentDurations()  # slot-hold times per model: what a turn in our queue takes

    def _parallel(self) -> int:
        return sum(account.limit for account in self.slots.accounts)

    async def run(
        self,
        model_id: str,
        arguments: dict[str, Any],
        *,
        deadline: float,
        resume: Resume | None = None,
        on_submitted: OnSubmitted | None = None,
        on_status: OnStatus = _nothing,
        on_position: OnQueued | None = None,
        cancel_wanted: CancelWanted | None = None,
    ) -> FalResult:
        """Raises ``FalRejected`` / ``FalUnreachable`` (final), ``DeadlineExceeded``, and
        ``RequestGone`` when fal no longer knows the request to ``resume`` (submit it anew).
        ``on_position`` hears the job's place among those waiting for a slot here (0 = next) and an
        estimate of the seconds until its result.
        ``cancel_wanted`` true: the request is cancelled at fal; ``CancelledAtFal`` if fal then ends
        it without a result (one that completed anyway is returned as usual).
        """
        if resume is not None and self.slots.rotation.key(resume.key_fingerprint) is None:
            raise RequestGone("the key of the earlier request left the pool")
        while True:
            try:
                return await self._run_on_a_key(
                    model_id, arguments, deadline, resume, on_submitted, on_status, on_position, cancel_wanted
                )
            except _KeyRefused:
                continue

    async def _run_on_a_key(
        self,
        model_id: str,
        arguments: dict[str, Any],
        deadline: float,
        resume: Resume | None,
        on_submitted: OnSubmitted | None,
        on_status: OnStatus,
        on_position: OnQueued | None,
        cancel_wanted: CancelWanted | None,
    ) -> FalResult:
        try:
            async with self.slots.hold(
                deadline - time.monotonic(),
                resume.key_fingerprint if resume else None,
                slot_waiter(self._holds, model_id, self._parallel(), on_position),
            ) as lease:
                started = time.monotonic()
                if resume is not None:
                    submission = resume.submission
                elif cancel_wanted is not None and await cancel_wanted():
                    # Cancelled while it waited here for a slot: fal never sees it.
                    raise CancelledAtFal("cancelled before it was submitted")
                else:
                    try:
                        submission = await self.client.submit(lease.key, model_id, arguments, deadline)
                    except FalRejected as error:
                        if self._keys.try_another(lease.key, error):
                            raise _KeyRefused from error
                        raise
                    if on_submitted is not None:
                        await on_submitted(submission, lease.key)
                # A resumed request started before this delivery: its age is unknown, expect nothing.
                window = None if resume else self._expected.window(model_id)
                status, running_since, cancelled = await self._wait_done(
                    lease.key, submission, deadline, on_status, window, started, cancel_wanted
                )
        except SlotTimeout:
            raise DeadlineExceeded("no fal slot free before the deadline", waiting_for_slot=True) from None
        now = time.monotonic()
        provider_s = now - started
        PROVIDER_SECONDS.labels(model_id).observe(provider_s)
        if cancelled and status.error is not None:
            raise CancelledAtFal(f"request {submission.request_id} cancelled: {status.error}")
        if status.error is None and resume is None and not cancelled:
            self._expected.observe(model_id, now - running_since)
            self._holds.observe(model_id, provider_s)
        body = await self._result(lease.key, submission, deadline, failed=status.error is not None)
        return FalResult(body, lease.key, int(provider_s * 1000))

    async def _result(
        self, key: ProviderKey, submission: Submission, deadline: float, *, failed: bool
    ) -> dict[str, Any]:
        try:
            return await self.client.result(key, submission, deadline, failed=failed)
        except RequestGone:
            raise FalRejected(404, FailureReason.provider_error, "result vanished after completion") from None

    async def _wait_done(
        self,
        key: ProviderKey,
        submission: Submission,
        deadline: float,
        on_status: OnStatus,
        window: tuple[float, float] | None,
        started: float,
        cancel_wanted: CancelWanted | None,
    ) -> tuple[QueueStatus, float, bool]:
        """The final status, when the request was first seen running (its run time's start), and
        whether we cancelled it."""
        running_since: float | None = None
        status: QueueStatus | None = None
        polls = 0
        cancelled = False
        next_cancel_check = 0.0
        while True:
            polls += 1
            try:
                status = await self.client.status(key, submission, deadline)
            except FalUnreachable as error:
                # The request itself is fine as far as we know; keep polling until the deadline.
                log.warning("status of %s unavailable: %s", submission.request_id, error.detail)
            else:
                if status.completed:
                    return status, running_since or started, cancelled
                if status.state != "IN_QUEUE" and running_since is None:
                    running_since = time.monotonic()
                await on_status(status)
            now = time.monotonic()
            if cancel_wanted is not None and not cancelled and now >= next_cancel_check:
                next_cancel_check = now + CANCEL_CHECK_S
                if await cancel_wanted():
                    log.info("the owner cancelled the job: cancelling fal request %s", submission.request_id)
                    await self.client.cancel(key, submission)
                    cancelled = True
                    continue  # look at once how fal ended it
            if now >= deadline:
                await self.client.cancel(key, submission)
                raise DeadlineExceeded("deadline passed while fal was working; request cancelled")
            if running_since is None and status is not None and status.state == "IN_QUEUE":
                delay = self._poll.queued_delay(now - started, status.queue_position)
            else:
                elapsed = now - (running_since or started)
                delay = self._poll.next_delay(elapsed, window, age=now - started, polls=polls)
            await asyncio.sleep(min(delay, deadline - now))
