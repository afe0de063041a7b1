"""``FalEmulatorControl``: the knob and record API of a fal emulator running in another process.

Method names and arguments mirror ``FalEmulator``'s in-process API, made async.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import httpx
from pydantic import BaseModel, TypeAdapter

from medialab_sandbox.fal.control_models import (
    AccountSetting,
    ConcurrencyLimit,
    KeyLock,
    LatencySetting,
    LlmScriptItems,
    Stats,
    UpscaleFormat,
)
from medialab_sandbox.fal.errors import ErrorReply
from medialab_sandbox.fal.faults import (
    HangFault,
    JobFault,
    Phase,
    PollFault,
    ShortResults,
    SlowJobs,
    SubmitFault,
)
from medialab_sandbox.fal.images import ImageFormat
from medialab_sandbox.fal.llm import ScriptedReply, as_scripted
from medialab_sandbox.fal.recorder import CancelRecord, KeyConcurrency, LlmCall, SubmitRecord, WebhookDelivery
from medialab_sandbox.lifecycle import Closable

_SUBMITS = TypeAdapter(list[SubmitRecord])
_LLM_CALLS = TypeAdapter(list[LlmCall])
_CANCELS = TypeAdapter(list[CancelRecord])
_WEBHOOKS = TypeAdapter(list[WebhookDelivery])


class FalEmulatorControl(Closable):
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        """``base_url`` is the emulator's root (``FalEmulator.base_url``), not ``/_emu``."""
        self._http = httpx.AsyncClient(base_url=f"{base_url.rstrip('/')}/_emu", timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def wait_ready(self, timeout: float = 15.0) -> None:
        """Poll ``/_emu/health`` until the emulator answers (it may still be starting)."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    if (await self._http.get("/health")).is_success:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)

    # ----- knobs -----------------------------------------------------------------------------

    async def reset(self) -> None:
        await self._send("POST", "/reset")

    async def clear_faults(self) -> None:
        await self._send("POST", "/faults/clear")

    async def fail_submits(
        self, error: ErrorReply, *, count: int | None = 1, model: str | None = None
    ) -> None:
        await self._send("POST", "/faults/submit", SubmitFault(error=error, count=count, model=model))

    async def fail_polls(
        self,
        error: ErrorReply,
        *,
        count: int | None = 1,
        model: str | None = None,
        phases: Iterable[Phase] = (Phase.STATUS, Phase.RESULT),
    ) -> None:
        fault = PollFault(error=error, count=count, model=model, phases=frozenset(phases))
        await self._send("POST", "/faults/poll", fault)

    async def fail_jobs(self, error: ErrorReply, *, count: int | None = 1, model: str | None = None) -> None:
        await self._send("POST", "/faults/job", JobFault(error=error, count=count, model=model))

    async def hang(
        self,
        *,
        count: int | None = 1,
        model: str | None = None,
        phases: Iterable[Phase] = (Phase.SUBMIT,),
    ) -> None:
        fault = HangFault(count=count, model=model, phases=frozenset(phases))
        await self._send("POST", "/faults/hang", fault)

    async def slow_jobs(self, run_seconds: float, *, count: int | None = 1, model: str | None = None) -> None:
        fault = SlowJobs(run_seconds=run_seconds, count=count, model=model)
        await self._send("POST", "/faults/slow", fault)

    async def short_results(
        self, missing: int = 1, *, count: int | None = 1, model: str | None = None
    ) -> None:
        """The next jobs asking for several images return ``missing`` fewer."""
        await self._send("POST", "/faults/short", ShortResults(missing=missing, count=count, model=model))

    async def set_latency(
        self, *, queue_seconds: float = 0.0, run_seconds: float = 0.0, model: str | None = None
    ) -> None:
        setting = LatencySetting(queue_seconds=queue_seconds, run_seconds=run_seconds, model=model)
        await self._send("PUT", "/latency", setting)

    async def set_concurrency_limit(self, key: str, limit: int | None) -> None:
        await self._send("PUT", "/concurrency-limit", ConcurrencyLimit(key=key, limit=limit))

    async def set_account(self, name: str, keys: Iterable[str], limit: int | None = None) -> None:
        await self._send("PUT", "/account", AccountSetting(name=name, keys=list(keys), limit=limit))

    async def status_polls(self) -> dict[str, int]:
        return (await self.stats()).status_polls

    async def lock_key(self, key: str, reason: str) -> None:
        await self._send("PUT", "/key-lock", KeyLock(key=key, reason=reason))

    async def unlock_key(self, key: str) -> None:
        await self._send("PUT", "/key-lock", KeyLock(key=key))

    async def set_upscale_format(self, image_format: ImageFormat | None) -> None:
        await self._send("PUT", "/upscale-format", UpscaleFormat(format=image_format))

    async def script_llm(self, *items: str | ErrorReply | ScriptedReply) -> None:
        scripted = LlmScriptItems(items=[as_scripted(item) for item in items])
        await self._send("POST", "/llm/script", scripted)

    # ----- records ---------------------------------------------------------------------------

    async def submits(self, model: str | None = None, key: str | None = None) -> list[SubmitRecord]:
        params = {name: value for name, value in (("model", model), ("key", key)) if value}
        return _SUBMITS.validate_python(await self._send("GET", "/submits", params=params))

    async def cancels(self) -> list[CancelRecord]:
        return _CANCELS.validate_python(await self._send("GET", "/cancels"))

    async def stats(self) -> Stats:
        return Stats.model_validate(await self._send("GET", "/stats"))

    async def concurrency(self, account: str) -> KeyConcurrency:
        return (await self.stats()).concurrency.get(account, KeyConcurrency())

    async def reset_concurrency(self) -> None:
        await self._send("POST", "/concurrency/reset")

    async def llm_calls(self) -> list[LlmCall]:
        return _LLM_CALLS.validate_python(await self._send("GET", "/llm/calls"))

    async def webhook_deliveries(self) -> list[WebhookDelivery]:
        return _WEBHOOKS.validate_python(await self._send("GET", "/webhooks"))

    async def _send(
        self,
        method: str,
        path: str,
        body: BaseModel | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        content = body.model_dump_json() if body is not None else None
        headers = {"content-type": "application/json"} if content is not None else None
        response = await self._http.request(method, path, content=content, headers=headers, params=params)
        response.raise_for_status()
        return response.json()
