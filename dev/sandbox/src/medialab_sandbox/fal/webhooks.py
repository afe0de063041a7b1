"""Webhook delivery for ``?fal_webhook=`` submits (fal.md §3.6)."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import httpx

from medialab_sandbox.fal.queue import Job, Outcome
from medialab_sandbox.fal.recorder import WebhookDelivery

logger = logging.getLogger(__name__)


def webhook_payload(job: Job, outcome: Outcome) -> dict[str, Any]:
    return {
        "request_id": job.request_id,
        "gateway_request_id": job.request_id,
        "status": "OK" if outcome.ok else "ERROR",
        "payload": outcome.body,
        "error": None if outcome.ok else f"Invalid status code: {outcome.status_code}",
    }


async def deliver(
    http: httpx.AsyncClient,
    job: Job,
    outcome: Outcome,
    *,
    attempts: int,
    timeout: float,
    backoff: float,
) -> WebhookDelivery:
    """POST until a 2xx answer or ``attempts`` run out (fal retries failed deliveries too)."""
    url = job.webhook_url or ""
    payload = webhook_payload(job, outcome)
    record = functools.partial(WebhookDelivery, request_id=job.request_id, url=url, payload=payload)
    status_code: int | None = None
    for attempt in range(1, attempts + 1):
        try:
            response = await http.post(url, json=payload, timeout=timeout)
            status_code = response.status_code
            if response.is_success:
                return record(attempts=attempt, status_code=status_code, delivered=True)
        except httpx.HTTPError as error:
            logger.info("webhook delivery for %s failed: %s", job.request_id, type(error).__name__)
        if attempt < attempts:
            await asyncio.sleep(backoff * 2 ** (attempt - 1))
    return record(attempts=attempts, status_code=status_code, delivered=False)
