"""Small plain-httpx helpers for tests that talk to the emulator like a fal client would."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


def key_header(key: str) -> dict[str, str]:
    return {"Authorization": f"Key {key}"}


async def wait_completed(
    http: httpx.AsyncClient, status_url: str, key: str, *, timeout: float = 60.0
) -> httpx.Response:
    """Poll ``status_url`` until it answers 200 (COMPLETED); returns that response. ``timeout`` only
    bounds a hang: drawing a 17 MP result took over 10 s on a slow, busy machine."""
    async with asyncio.timeout(timeout):
        while True:
            response = await http.get(status_url, headers=key_header(key))
            if response.status_code == 200:
                return response
            response.raise_for_status()
            await asyncio.sleep(0.01)


async def run_request(
    http: httpx.AsyncClient, queue_base: str, model_id: str, body: dict[str, Any], key: str
) -> httpx.Response:
    """Submit, wait for completion and return the result response (success or error)."""
    submitted = await http.post(f"{queue_base}/{model_id}", json=body, headers=key_header(key))
    submitted.raise_for_status()
    urls = submitted.json()
    await wait_completed(http, urls["status_url"], key)
    return await http.get(urls["response_url"], headers=key_header(key))
