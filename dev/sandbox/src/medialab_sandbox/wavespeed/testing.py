"""Small helpers for tests that drive the emulator with plain httpx (the runner's tests too)."""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import ssl
import time
from typing import Any

import httpx
from PIL import Image

from medialab_sandbox.wavespeed.server import WaveSpeedEmulator

TERMINAL = ("completed", "failed")


def sample_image(
    color: str | tuple[int, int, int] = "red", size: tuple[int, int] = (64, 48), fmt: str = "PNG"
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # httpx builds a fresh context (~25 ms) per client otherwise; tests make many clients.
    return ssl.create_default_context()


def plain_client(**kwargs: Any) -> httpx.AsyncClient:
    """An httpx client that is cheap to create."""
    return httpx.AsyncClient(verify=_tls_context(), **kwargs)


def api_client(emu: WaveSpeedEmulator, key: str | None = None) -> httpx.AsyncClient:
    """An httpx client on the emulator, authorised with `key` when given."""
    return plain_client(base_url=emu.base_url, headers=bearer(key) if key else None)


async def poll_result(
    client: httpx.AsyncClient, task_id: str, *, interval: float = 0.01, timeout: float = 5.0
) -> dict[str, Any]:
    """Poll `/result` until the task ends; return its `data`."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/api/v3/predictions/{task_id}/result")
        response.raise_for_status()
        data: dict[str, Any] = response.json()["data"]
        if data["status"] in TERMINAL:
            return data
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} still {data['status']} after {timeout}s")
        await asyncio.sleep(interval)
