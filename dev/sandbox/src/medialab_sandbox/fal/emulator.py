"""``FalBackend``: what the fal emulator does (queue, storage, CDN files, faults, records) without
the HTTP server; ``server.FalEmulator`` serves it on one local port.

URL layout (one uvicorn server, distinct prefixes):
- ``{base}/queue``  — queue host (``FAL_QUEUE_BASE``): ``POST /queue/{model_id}`` and
  ``/queue/{owner}/{app}/requests/{id}[/status|/cancel]``;
- ``{base}/rest``   — REST host (``FAL_REST_BASE``): ``/rest/storage/auth/token``,
  ``/rest/storage/upload/initiate``;
- ``{base}/cdn``    — CDN (the token's ``base_url``): ``POST /cdn/files/upload``,
  ``PUT /cdn/upload/{secret}``, ``GET /cdn/files/{id}/{name}``;
- ``{base}/_emu``   — control endpoints for tests in another process (see ``api_control``).

Every URL the emulator hands out is built from ``base_url`` (``public_url`` if given, else the
bound ``http://host:port``), so clients follow them back here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping

import httpx

from medialab_sandbox.fal.errors import ErrorReply, ReplyError, account_locked, unauthorized
from medialab_sandbox.fal.faults import (
    AnyFault,
    FaultBook,
    HangFault,
    JobFault,
    Latency,
    Phase,
    PollFault,
    ShortResults,
    SlowJobs,
    SubmitFault,
)
from medialab_sandbox.fal.images import ImageFormat
from medialab_sandbox.fal.inference import MODELS, RunContext, run_model
from medialab_sandbox.fal.llm import LlmResponder, LlmScript, ScriptedReply, default_reply
from medialab_sandbox.fal.queue import Job, JobQueue, Outcome
from medialab_sandbox.fal.recorder import (
    KeyConcurrency,
    LlmCall,
    Recorder,
    SubmitRecord,
    WebhookDelivery,
)
from medialab_sandbox.fal.storage import FileStore, decode_data_uri
from medialab_sandbox.fal.webhooks import deliver

LOCK_REASON = "Exhausted balance. Top up your balance at fal.ai/dashboard/billing."


class FalBackend:
    """The emulator's state and behaviour; the route modules take it from the app's state."""

    def __init__(
        self,
        keys: Iterable[str],
        *,
        latency: Latency | None = None,
        concurrency_limits: Mapping[str, int] | None = None,
        llm_responder: LlmResponder = default_reply,
        hang_seconds: float = 3600.0,
        webhook_attempts: int = 3,
        webhook_timeout: float = 15.0,
        webhook_backoff: float = 0.2,
    ) -> None:
        self.keys: set[str] = set(keys)
        self._default_limits = dict(concurrency_limits or {})
        self._hang_seconds = hang_seconds
        self._webhook_attempts = webhook_attempts
        self._webhook_timeout = webhook_timeout
        self._webhook_backoff = webhook_backoff
        self.faults = FaultBook(latency)
        self.recorder = Recorder()
        self.llm = LlmScript(llm_responder)
        self.storage = FileStore()
        self.queue = JobQueue(self.recorder, self._execute, self._on_complete)
        for key, limit in self._default_limits.items():
            self.queue.set_limit(key, limit)
        self._base_url: str | None = None
        self._http: httpx.AsyncClient | None = None
        self._webhook_tasks: set[asyncio.Task[None]] = set()
        self._release_hangs = asyncio.Event()
        self._webhook_recorded = asyncio.Condition()

    # ----- lifecycle -------------------------------------------------------------------------

    def open(self, base_url: str) -> None:
        """Start answering as the fal hosts under ``base_url``."""
        self._base_url = base_url
        self.storage.cdn_base = self.cdn_base
        self._http = httpx.AsyncClient()

    async def close(self) -> None:
        """End every job, hung request and webhook, so the server can close their connections."""
        self._release_hung_requests()
        await self.queue.close()
        self._cancel_webhooks()
        await asyncio.gather(*self._webhook_tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
        self._http = None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the fal emulator is not started")
        return self._base_url

    @property
    def queue_base(self) -> str:
        return f"{self.base_url}/queue"

    @property
    def rest_base(self) -> str:
        return f"{self.base_url}/rest"

    @property
    def cdn_base(self) -> str:
        return f"{self.base_url}/cdn"

    @property
    def control_base(self) -> str:
        return f"{self.base_url}/_emu"

    # ----- knobs -----------------------------------------------------------------------------

    def arm(self, fault: AnyFault) -> None:
        self.faults.arm(fault)

    def fail_submits(self, error: ErrorReply, *, count: int | None = 1, model: str | None = None) -> None:
        self.arm(SubmitFault(error=error, count=count, model=model))

    def fail_polls(
        self,
        error: ErrorReply,
        *,
        count: int | None = 1,
        model: str | None = None,
        phases: Iterable[Phase] = (Phase.STATUS, Phase.RESULT),
    ) -> None:
        self.arm(PollFault(error=error, count=count, model=model, phases=frozenset(phases)))

    def fail_jobs(self, error: ErrorReply, *, count: int | None = 1, model: str | None = None) -> None:
        self.arm(JobFault(error=error, count=count, model=model))

    def hang(
        self,
        *,
        count: int | None = 1,
        model: str | None = None,
        phases: Iterable[Phase] = (Phase.SUBMIT,),
    ) -> None:
        self.arm(HangFault(count=count, model=model, phases=frozenset(phases)))

    def slow_jobs(self, run_seconds: float, *, count: int | None = 1, model: str | None = None) -> None:
        self.arm(SlowJobs(run_seconds=run_seconds, count=count, model=model))

    def short_results(self, missing: int = 1, *, count: int | None = 1, model: str | None = None) -> None:
        self.arm(ShortResults(missing=missing, count=count, model=model))

    def set_latency(
        self, *, queue_seconds: float = 0.0, run_seconds: float = 0.0, model: str | None = None
    ) -> None:
        self.faults.set_latency(Latency(queue_seconds=queue_seconds, run_seconds=run_seconds), model)

    def set_concurrency_limit(self, key: str, limit: int | None) -> None:
        """The in-progress limit of an account, or of a key that belongs to none."""
        self.queue.set_limit(key, limit)

    def set_account(self, name: str, keys: Iterable[str], limit: int | None = None) -> None:
        """Group ``keys`` into one account: fal counts their requests in progress together."""
        for key in keys:
            self.queue.accounts[key] = name
        self.queue.set_limit(name, limit)

    def status_polls(self) -> dict[str, int]:
        """Status calls answered per request id (what a client's poll cadence costs fal)."""
        return {request_id: job.status_polls for request_id, job in self.queue.jobs.items()}

    def lock_key(self, key: str, reason: str = LOCK_REASON) -> None:
        """Answer this key's calls with fal's 403 "User is locked" until ``unlock_key``."""
        self.faults.locked_keys[key] = reason

    def unlock_key(self, key: str) -> None:
        self.faults.locked_keys.pop(key, None)

    def set_upscale_format(self, image_format: ImageFormat | None) -> None:
        self.faults.upscale_format = image_format

    def set_nsfw_flagged(self, flagged: bool) -> None:
        self.faults.nsfw_flagged = flagged

    def set_grainy_output(self, grainy: bool) -> None:
        self.faults.grainy_output = grainy

    def script_llm(self, *items: str | ErrorReply | ScriptedReply) -> None:
        self.llm.push(*items)

    def clear_faults(self) -> None:
        """Disarm every fault and restore latency, limits, accounts and output formats."""
        self.faults.clear()
        self.queue.accounts.clear()
        for key in list(self.queue.limits):
            self.queue.set_limit(key, None)
        for key, limit in self._default_limits.items():
            self.queue.set_limit(key, limit)

    def reset(self) -> None:
        """Back to a fresh emulator without restarting it (e.g. one server per test module).

        Unfinished requests are cancelled (no webhooks), hung calls released, faults, scripted
        LLM replies, records and stored files dropped.
        """
        self.queue.cancel_all()
        self._cancel_webhooks()
        self._release_hung_requests()
        self.queue.jobs.clear()
        self.storage.clear()
        self.clear_faults()
        self.llm.clear()
        self.recorder.clear()

    # ----- records ---------------------------------------------------------------------------

    def submits(self, model: str | None = None, key: str | None = None) -> list[SubmitRecord]:
        return self.recorder.find_submits(model, key)

    def submit_counts_by_model(self) -> dict[str, int]:
        return self.recorder.counts_by_model()

    def submit_counts_by_key(self) -> dict[str, int]:
        return self.recorder.counts_by_key()

    def concurrency(self, account: str) -> KeyConcurrency:
        """Counts of an account (a key of no account is its own)."""
        return self.recorder.concurrency(account)

    def reset_concurrency(self) -> None:
        self.recorder.reset_concurrency()

    @property
    def llm_calls(self) -> list[LlmCall]:
        return list(self.recorder.llm_calls)

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        return list(self.recorder.webhooks)

    def file_bytes(self, url: str) -> bytes | None:
        """Bytes behind one of our CDN URLs or a data URI (to compare inputs byte for byte)."""
        decoded = decode_data_uri(url)
        if decoded is not None:
            return decoded[1]
        stored = self.storage.resolve_url(url)
        return stored.data if stored else None

    def job(self, request_id: str) -> Job | None:
        return self.queue.jobs.get(request_id)

    async def wait_completed(self, request_id: str, timeout: float = 10.0) -> Job:
        job = self.queue.jobs[request_id]
        await asyncio.wait_for(job.done.wait(), timeout)
        return job

    async def wait_webhooks(self, count: int, timeout: float = 10.0) -> list[WebhookDelivery]:
        """Wait until ``count`` webhook deliveries (successful or given up) are recorded."""
        async with self._webhook_recorded:
            await asyncio.wait_for(
                self._webhook_recorded.wait_for(lambda: len(self.recorder.webhooks) >= count),
                timeout,
            )
        return self.webhook_deliveries

    # ----- used by the HTTP handlers ---------------------------------------------------------

    def authenticate(self, authorization: str | None) -> str:
        """The fal key of an ``Authorization: Key <id:secret>`` header, or a 401/403 reply."""
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() != "key" or credentials.strip() not in self.keys:
            raise ReplyError(unauthorized())
        key = credentials.strip()
        reason = self.faults.locked_keys.get(key)
        if reason is not None:
            raise ReplyError(account_locked(reason))
        return key

    async def hang_here(self) -> None:
        """Hold a request unanswered until the emulator stops or ``hang_seconds`` pass."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release_hangs.wait(), self._hang_seconds)

    def _release_hung_requests(self) -> None:
        self._release_hangs.set()
        self._release_hangs = asyncio.Event()

    def _cancel_webhooks(self) -> None:
        for task in list(self._webhook_tasks):
            task.cancel()

    async def _execute(self, job: Job) -> Outcome:
        ctx = RunContext(
            request_id=job.request_id,
            model_id=job.model_id,
            run_seconds=job.run_seconds,
            storage=self.storage,
            faults=self.faults,
            llm=self.llm,
            recorder=self.recorder,
        )
        result = await run_model(MODELS[job.model_id], job.body, ctx, job.forced_error)
        if isinstance(result, ErrorReply):
            return Outcome.failure(result)
        return Outcome.success(result)

    def _on_complete(self, job: Job) -> None:
        if job.webhook_url is None or job.outcome is None or self._http is None:
            return
        task = asyncio.create_task(self._deliver_webhook(self._http, job, job.outcome))
        self._webhook_tasks.add(task)
        task.add_done_callback(self._webhook_tasks.discard)

    async def _deliver_webhook(self, http: httpx.AsyncClient, job: Job, outcome: Outcome) -> None:
        delivery = await deliver(
            http,
            job,
            outcome,
            attempts=self._webhook_attempts,
            timeout=self._webhook_timeout,
            backoff=self._webhook_backoff,
        )
        async with self._webhook_recorded:
            self.recorder.webhooks.append(delivery)
            self._webhook_recorded.notify_all()
