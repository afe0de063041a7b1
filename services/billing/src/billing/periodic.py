"""Billing's background rounds (deadline sweep, ledger audit, retention): one loop for all of them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from medialab_contracts.errors import ServiceUnavailable

log = logging.getLogger(__name__)


async def every(
    interval_s: float, stopping: asyncio.Event, name: str, one_round: Callable[[], Awaitable[None]]
) -> None:
    """Run ``one_round`` every ``interval_s`` until ``stopping``; a failed round is logged and the next
    one retries, so a PostgreSQL outage never ends the loop."""
    while not stopping.is_set():
        try:
            await one_round()
        except ServiceUnavailable:
            log.warning("%s skipped: postgres unavailable", name)
        except Exception:
            log.exception("%s failed; next round retries", name)
        try:
            await asyncio.wait_for(stopping.wait(), timeout=interval_s)
        except TimeoutError:
            pass
