"""Creating a WaveSpeed task without ever paying for two, within the account's start rate.

A submit is sent again only when no task can exist: no connection was made, or WaveSpeed refused it
before creating anything (429, 408, 425), after the backoff or ``Retry-After``. When the request went
out and its answer was lost (read timeout, dropped connection) or was a 5xx, WaveSpeed may have
created the task, and the official SDK never resubmits then for that reason. We look the task up
in the prediction list instead (``WaveSpeedClient.find_task``), a few times a grace period apart:
- found: carry on with that task;
- absent every time: nothing was created, so the submit is sent again;
- the list cannot tell (no inputs listed, refused, not answering): the job fails uncharged with
  ``SubmitUnresolved`` rather than risk a duplicate.
Every request that may create a task takes one start from the account's start limiter first, so
retries count against the per-minute limit like any other start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from medialab_runtime.http_retry import RetryPolicy, Transient
from medialab_runtime.start_rate import OnStartWait, StartLimiter

from wavespeed_runner.api import Prediction, WaveSpeedClient
from wavespeed_runner.errors import (
    SubmitUncertain,
    SubmitUnresolved,
    WaveSpeedRejected,
    WaveSpeedUnreachable,
)
from wavespeed_runner.metrics import LOOKUPS, RETRIES

log = logging.getLogger(__name__)

# WaveSpeed stamps created_at with its own clock: look back this much further than our send time.
_CLOCK_SKEW = timedelta(seconds=60)
_NEXT_STEP = "not sent again, so WaveSpeed cannot bill a second task; the job is not charged, try again"


@dataclass(frozen=True)
class LookupPolicy:
    """How often, and how far apart, the prediction list is asked about an uncertain submit."""

    attempts: int = 3
    grace_s: float = 2.0


class Submitter:
    def __init__(
        self, client: WaveSpeedClient, starts: StartLimiter, retry: RetryPolicy, lookup: LookupPolicy
    ) -> None:
        self._client = client
        self._starts = starts
        self._retry = retry
        self._lookup = lookup

    async def ready(self, timeout: float, on_wait: OnStartWait | None = None) -> None:
        """Wait until a start is free (``StartTimeout`` if not in time), taking none."""
        await self._starts.ready(timeout, on_wait)

    async def submit(self, model_id: str, arguments: dict[str, Any], deadline: float) -> Prediction:
        """Raises ``StartTimeout``, ``WaveSpeedUnreachable``, ``WaveSpeedRejected``, ``SubmitUnresolved``."""
        attempt = 0
        while True:
            attempt += 1
            await self._starts.take(deadline - time.monotonic())
            sent_at = datetime.now(UTC)
            try:
                return await self._client.submit_once(model_id, arguments, deadline)
            except Transient as failure:
                cause, pause = failure.cause, failure.retry_after
                log.info("WaveSpeed submit not taken (%s); no task exists, sending it again", cause)
            except SubmitUncertain as uncertain:
                found = await self._look_up(model_id, arguments, sent_at, deadline, uncertain)
                if found is not None:
                    return found
                cause, pause = f"lost_{uncertain.cause}", 0.0
            RETRIES.labels("submit", cause).inc()
            delay = max(self._retry.delay(attempt), pause)
            if attempt >= self._retry.max_attempts or time.monotonic() + delay >= deadline:
                raise WaveSpeedUnreachable("submit", cause, attempt)
            await asyncio.sleep(delay)

    async def _look_up(
        self,
        model_id: str,
        arguments: dict[str, Any],
        sent_at: datetime,
        deadline: float,
        uncertain: SubmitUncertain,
    ) -> Prediction | None:
        """The task the lost submit created, or None when the list shows it was not created."""
        why = "the prediction list did not answer"
        for attempt in range(1, self._lookup.attempts + 1):
            # A grace first: a request that timed out on our side may still be creating the task.
            if time.monotonic() + self._lookup.grace_s >= deadline:
                why = "no time was left to look the task up"
                break
            await asyncio.sleep(self._lookup.grace_s)
            try:
                lookup = await self._client.find_task(model_id, arguments, sent_at - _CLOCK_SKEW, deadline)
            except Transient as failure:
                LOOKUPS.labels("failed").inc()
                log.info("prediction list answered %s (lookup %d)", failure.cause, attempt)
                continue
            except WaveSpeedRejected as refused:
                LOOKUPS.labels("failed").inc()
                why = f"the prediction list refused the lookup ({refused.detail})"
                break
            if lookup is None:
                LOOKUPS.labels("unknown").inc()
                why = "the prediction list does not show inputs, so the task cannot be told apart"
                break
            if lookup.found is not None:
                LOOKUPS.labels("found").inc()
                log.warning("WaveSpeed submit answer lost; found its task %s", lookup.found.task_id)
                return lookup.found
            if attempt == self._lookup.attempts:
                LOOKUPS.labels("absent").inc()
                log.warning("WaveSpeed submit answer lost and no task was created; sending it again")
                return None
        raise SubmitUnresolved(f"{uncertain.detail}, and {why}: {_NEXT_STEP}")
