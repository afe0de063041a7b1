"""The full stack for the chaos scenarios, and the oracle every scenario ends with (no tests here).

``ChaosStack`` is ``medialab_devstack.launcher.Stack`` with short timings through the environment:
its own nats-server (file storage) and PostgreSQL, the three emulators and the six services as real
processes. One stack serves every scenario of the session (``conftest.py``); a scenario that breaks
something puts it back, and ``heal()`` restarts whatever is still down before the next one.

``Oracle.verify`` is the acceptance check of every scenario. For each job it is given (or that billing
reserved for the scenario's users) it waits until the job has ended, then asserts:
- exactly one final event on EVENTS (``succeeded`` xor ``failed``);
- billing's operation is CHARGED for a success, FAILED for a failure, nothing left PENDING, and the
  ledger agrees with every balance (billing's own ``check_consistency``);
- every job that ran (was published to JOBS) was reserved first: nothing runs unpaid;
- the user got exactly one final message for the job: the PNG document whose buttons name the job, or
  the failure text with its id.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import nats
from billing.ledger import check_consistency
from medialab_contracts import subjects
from medialab_contracts.billing import (
    BalanceView,
    EnsureUserRequest,
    ReserveReply,
    ReserveRequest,
)
from medialab_contracts.catalog import default_catalog
from medialab_contracts.events import JobFailed, JobSucceeded, parse_job_event
from medialab_contracts.jobs import ImageSize, JobRequest
from medialab_contracts.media import MediaRef
from medialab_contracts.modes import Mode
from medialab_devstack.launcher import SANDBOX_BOT_TOKEN, Stack
from medialab_devstack.stack import ServiceProcess
from medialab_runtime.kv_keys import keys_matching
from medialab_runtime.media_store import MediaStore
from medialab_runtime.nats_conn import server_urls
from medialab_runtime.provisioning import LayoutConfig, ensure_layout
from medialab_runtime.rpc import call
from medialab_sandbox.fal import FalEmulatorControl
from medialab_sandbox.telegram import EmulatorControl, TelegramUserClient, TranscriptMessage
from medialab_sandbox.wavespeed import WaveSpeedEmulatorControl
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError
from PIL import Image

from medialab_testkit.images import png_bytes
from medialab_testkit.waiting import eventually

CATALOG = default_catalog()
FLUX = CATALOG.by_key("flux")
FACE_SWAP = CATALOG.by_key("fs")
TEXT = CATALOG.by_key("txt")
SLOT_LEASE_S = 3
WELCOME_KOPECKS = 100_000

# Short timings everywhere, so a killed process's work comes back within seconds.
CHAOS_ENV: dict[str, str] = {
    "LOG_FORMAT": "text",
    "SHUTDOWN_GRACE_S": "2",
    # runners (fal, wavespeed, text-render)
    "ACK_WAIT_S": "3",
    "MAX_DELIVER": "6",
    "SLOT_POLL_S": "0.2",
    # The emulator's fal account is past its first purchases: 10 in progress, not a new account's 2.
    "FAL_CONCURRENCY_PER_ACCOUNT": "10",
    "FAL_POLL_MAX_S": "0.2",
    "FAL_RETRY_BASE_S": "0.05",
    "FAL_RETRY_MAX_S": "0.5",
    "FAL_HTTP_TIMEOUT_S": "2",
    "WAVESPEED_POLL_INTERVAL_S": "0.2",
    "WAVESPEED_POLL_MAX_S": "0.4",
    "WAVESPEED_RETRY_BASE_S": "0.05",
    "WAVESPEED_RETRY_MAX_S": "0.5",
    "WAVESPEED_HTTP_TIMEOUT_S": "2",
    # The emulator runs a Silver account here: roomy limits, quick lookups of lost submit answers.
    "WAVESPEED_MAX_IN_PROGRESS": "10",
    "WAVESPEED_STARTS_PER_MINUTE": "500",
    "WAVESPEED_LOOKUP_GRACE_S": "0.2",
    "STYLE_LLM_ENABLED": "false",
    # billing
    "WELCOME_CREDIT": str(WELCOME_KOPECKS),
    "SWEEPER_INTERVAL_S": "0.5",
    "CONSISTENCY_INTERVAL_S": "1",
    "SAGA_ACK_WAIT_S": "3",
    "SAGA_RETRY_DELAY_S": "0.3",
    "SAGA_FETCH_TIMEOUT_S": "0.3",
    "DB_CONNECT_TIMEOUT_S": "2",
    "DB_COMMAND_TIMEOUT_S": "3",
    # gateway
    "DELIVERY_ACK_WAIT_S": "5",
    "PROGRESS_INTERVAL_S": "1",
    "ALBUM_DEBOUNCE_S": "0.3",
    "BILLING_TIMEOUT_S": "3",
}

_user_ids = itertools.count(700_000 + (os.getpid() % 1000) * 1000)


def new_user_id() -> int:
    return next(_user_ids)


def text_of(message: TranscriptMessage) -> str:
    return message.text or message.caption or ""


def callback_data(message: TranscriptMessage) -> list[str]:
    return [button.callback_data or "" for button in message.inline_buttons]


def final_messages(messages: Iterable[TranscriptMessage], job_id: str) -> list[TranscriptMessage]:
    """The messages that tell the user how ``job_id`` ended: the result document(s) with the job's
    buttons, or the failure text naming it (often the job's status message, edited)."""
    told = []
    for message in messages:
        if not message.from_bot or message.deleted:
            continue
        if message.document is not None and any(job_id in data for data in callback_data(message)):
            told.append(message)
        elif job_id in text_of(message) and "не получилось" in text_of(message):
            told.append(message)
        elif message.document is None and any(f":{job_id}:" in data for data in callback_data(message)):
            told.append(message)  # M2: the written prompt with «Создать по этому промпту»
    return told


async def _provision(nats_url: str, replicas: int, slot_lease_s: float) -> None:
    """Create the layout before any service does, with the scenario's slot lease; the services keep
    an existing bucket's config."""
    nc = await nats.connect(servers=server_urls(nats_url))
    try:
        await ensure_layout(nc.jetstream(), LayoutConfig(slots_ttl_s=slot_lease_s, replicas=replicas))
    finally:
        await nc.close()


class ChaosStack:
    """The launcher's stack plus what the scenarios need to break it and put it back; with
    ``nats_nodes=3`` on a three-node NATS cluster, every stream with three replicas."""

    def __init__(self, root: Path, nats_nodes: int = 1, slot_lease_s: float = SLOT_LEASE_S) -> None:
        """``slot_lease_s``: short by default, so a killed holder's slot is back within seconds; a
        scenario that moves NATS leadership needs a lease longer than an election (as production's
        30 s is), or a live holder's lease runs out while it cannot refresh it."""
        self.stack = Stack(data_dir=root, env=dict(CHAOS_ENV), nats_nodes=nats_nodes)
        self.slot_lease_s = slot_lease_s

    def start(self) -> None:
        try:
            self.stack.start_infrastructure()
            replicas = int(self.stack.env.get("NATS_REPLICAS", "1"))
            asyncio.run(_provision(self.nats_url, replicas, self.slot_lease_s))
            self.stack.start_sandboxes()
            self.stack.start_services()
        except BaseException:
            self.stack.stop()
            raise

    def stop(self) -> None:
        self.stack.stop()

    # ----- where things are -------------------------------------------------------------------
    @property
    def nats_url(self) -> str:
        return self.stack.nats_url

    @property
    def database_url(self) -> str:
        return self.stack.database_url

    def service(self, name: str) -> ServiceProcess:
        return self.stack.service(name)

    def user(self, user_id: int | None = None) -> TelegramUserClient:
        user_id = user_id or new_user_id()
        return TelegramUserClient(self.stack.telegram_url, SANDBOX_BOT_TOKEN, user_id=user_id)

    def telegram(self) -> EmulatorControl:
        return EmulatorControl(self.stack.telegram_url, SANDBOX_BOT_TOKEN)

    def fal(self) -> FalEmulatorControl:
        return FalEmulatorControl(self.stack.fal_url)

    def wavespeed(self) -> WaveSpeedEmulatorControl:
        return WaveSpeedEmulatorControl(self.stack.wavespeed_url)

    # ----- breaking and mending ---------------------------------------------------------------
    def kill(self, name: str) -> None:
        """SIGKILL: no graceful shutdown, in-flight work is simply gone."""
        self.service(name).kill()

    async def start_service(self, name: str) -> None:
        process = self.service(name)
        process.start()
        await asyncio.to_thread(process.wait_ready, 90)

    async def restart_nats(self) -> None:
        assert self.stack.nats is not None
        await asyncio.to_thread(self.stack.nats.restart)

    async def stop_postgres(self) -> None:
        assert self.stack.postgres is not None
        await asyncio.to_thread(self.stack.postgres.stop)

    async def start_postgres(self) -> None:
        assert self.stack.postgres is not None
        await asyncio.to_thread(self.stack.postgres.start)

    async def heal(self) -> None:
        """Bring back whatever a scenario left broken and clear every emulator's faults."""
        nats_server, postgres = self.stack.nats, self.stack.postgres
        if nats_server is not None and not nats_server.running:
            await asyncio.to_thread(nats_server.start)
        if postgres is not None and not postgres.running:
            await self.start_postgres()
        for process in self.stack.services:
            if not process.alive():
                process.start()
        for process in self.stack.services:
            await asyncio.to_thread(process.wait_ready, 90)
        async with self.fal() as fal:
            await fal.clear_faults()
            await fal.set_latency(run_seconds=0.2)
        async with self.wavespeed() as wavespeed:
            await wavespeed.reset()
            await wavespeed.configure(processing_seconds=0.2)
        async with self.telegram() as telegram:
            await telegram.clear_faults()

    async def metric(self, service: str, name: str) -> float:
        """Sum of one metric's samples (all label sets) on a service's /metrics."""
        async with httpx.AsyncClient() as http:
            body = (await http.get(f"{self.service(service).health_url}/metrics")).text
        pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", re.MULTILINE)
        return sum(float(value) for value in pattern.findall(body))


# ----- driving jobs without the gateway --------------------------------------------------------------


@dataclass
class Bus:
    """The test's own NATS side: billing calls, job publishing, the media store, slot counts."""

    nc: Client
    media: MediaStore
    published: dict[str, int] = field(default_factory=dict)  # every job seen on JOBS → its user

    async def _on_job(self, msg: Msg) -> None:
        try:
            job = JobRequest.model_validate_json(msg.data)
        except ValueError:
            return
        self.published[job.job_id] = job.user_id

    async def ensure_user(self, user_id: int) -> BalanceView:
        return await call(
            self.nc, subjects.BILLING_ENSURE_USER, EnsureUserRequest(user_id=user_id), BalanceView, 5
        )

    async def reserve(self, job: JobRequest) -> ReserveReply:
        return await call(self.nc, subjects.BILLING_RESERVE, ReserveRequest.for_job(job), ReserveReply, 5)

    async def publish(self, job: JobRequest, timeout: float = 30.0) -> None:
        """Publish with the job id as ``Nats-Msg-Id``, retrying through a NATS outage (the stream's
        dedup makes a retry of a publish that did land a no-op)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                await self.nc.jetstream().publish(
                    job.subject, job.model_dump_json().encode(), headers={"Nats-Msg-Id": job.job_id}
                )
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def start_job(self, job: JobRequest) -> JobRequest:
        """What the gateway does: reserve, then publish."""
        await self.reserve(job)
        await self.publish(job)
        return job

    async def put_image(self, tag: str, data: bytes, content_type: str = "image/png") -> MediaRef:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
        return await self.media.put(f"inputs/chaos/{tag}", data, content_type, width=width, height=height)

    async def slots_held(self, provider: str) -> int:
        kv = await self.nc.jetstream().key_value(subjects.SLOTS_BUCKET)
        return len(await keys_matching(kv, f"{provider}.>"))

    def no_slots_held(self, provider: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return await self.slots_held(provider) == 0

        return check

    async def consumer_drained(self, stream: str, durable: str) -> bool:
        info = await self.nc.jetstream().consumer_info(stream, durable)
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    async def final_event(self, job_id: str) -> JobSucceeded | JobFailed:
        js = self.nc.jetstream()
        for kind in ("succeeded", "failed"):
            try:
                msg = await js.get_last_msg(subjects.EVENTS_STREAM, subjects.event_subject(job_id, kind))
            except NotFoundError:
                continue
            event = parse_job_event(msg.data or b"")
            assert isinstance(event, JobSucceeded | JobFailed)
            return event
        raise LookupError(f"job {job_id} has no final event")

    async def final_counts(self) -> dict[str, Counter[str]]:
        """Final events per job on EVENTS: ``{job_id: Counter({"succeeded": 1})}``."""
        counts: dict[str, Counter[str]] = {}
        js = self.nc.jetstream()
        for kind in ("succeeded", "failed"):
            info = await js.stream_info(subjects.EVENTS_STREAM, subjects_filter=f"events.job.*.{kind}")
            for subject, n in (info.state.subjects or {}).items():
                counts.setdefault(subject.split(".")[2], Counter())[kind] += n
        return counts


@asynccontextmanager
async def bus(stack: ChaosStack) -> AsyncIterator[Bus]:
    nc = await nats.connect(
        servers=server_urls(stack.nats_url), max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    try:
        client = Bus(nc, await MediaStore.open(nc.jetstream()))
        await nc.subscribe(subjects.JOBS_SUBJECTS, cb=client._on_job)
        yield client
    finally:
        await nc.close()


JOB_ID = re.compile(r"ID: ([0-9a-f]{32})")
EXTENDED_FLUX = "Изображение {} | model=flux | size=64x64"


def asks_to_launch(message: TranscriptMessage) -> bool:
    return any("Запустить" in button.text for button in message.inline_buttons)


def accepted(message: TranscriptMessage) -> bool:
    return "задача принята" in text_of(message)


async def order_via_bot(user: TelegramUserClient, tag: str) -> str:
    """Order a tiny flux picture with the extended form, as a user types it; the job id the bot names."""
    await user.send_text(EXTENDED_FLUX.format(f"chaos {tag}"))
    return await accepted_job_id(user)


async def price_shown(user: TelegramUserClient, timeout: float = 20) -> TranscriptMessage:
    """The bot's price with «✅ Запустить» under it (the extended form starts nothing before the press)."""
    return await user.wait_for_reply(asks_to_launch, timeout=timeout)


async def launch(user: TelegramUserClient, offer: TranscriptMessage) -> None:
    await user.press_button(offer.message_id, text=offer.button("Запустить").text)


async def accepted_job_id(user: TelegramUserClient, timeout: float = 20) -> str:
    """The id in the bot's «задача принята» answer to the user's last message, pressing «✅ Запустить»
    first when the bot asks for it."""
    answer = await user.wait_for_reply(lambda m: accepted(m) or asks_to_launch(m), timeout=timeout)
    if not accepted(answer):
        await launch(user, answer)
        answer = await user.wait_for_message(predicate=accepted, after=answer.message_id, timeout=timeout)
    match = JOB_ID.search(text_of(answer))
    assert match, text_of(answer)
    return match.group(1)


def flux_job(user_id: int, tag: str, deadline_s: int = 60) -> JobRequest:
    """A tiny fal job (flux/dev at 64×64: the emulator renders it in no time); the tag is in the prompt."""
    return FLUX.job(
        Mode.create,
        user_id,
        user_id,
        prompt=f"chaos {tag}",
        size=ImageSize(width=64, height=64),
        deadline_s=deadline_s,
    )


async def faceswap_job(client: Bus, user_id: int, tag: str, deadline_s: int = 60) -> JobRequest:
    face = await client.put_image(f"{tag}-face.png", png_bytes((48, 48), (250, 220, 180)))
    target = await client.put_image(f"{tag}-target.png", png_bytes((80, 64), (120, 80, 40)))
    return FACE_SWAP.job(
        Mode.faceswap,
        user_id,
        user_id,
        inputs=[face, target],
        deadline_s=deadline_s,
    )


async def text_job(client: Bus, user_id: int, tag: str, picture: MediaRef) -> JobRequest:
    return TEXT.job(
        Mode.text,
        user_id,
        user_id,
        inputs=[picture],
        overlay_text=f"Хаос {tag} 🎉\nвторая строка",
        deadline_s=60,
    )


# ----- the oracle --------------------------------------------------------------------------------------


@dataclass
class Verdict:
    outcomes: dict[str, str]  # job id → "succeeded" / "failed"

    def count(self, kind: str) -> int:
        return sum(1 for outcome in self.outcomes.values() if outcome == kind)

    async def assert_all_succeeded(self, client: Bus) -> None:
        """Nothing the scenario broke is a reason for a job to fail; the failures, with their reasons."""
        finals = [await client.final_event(job) for job, kind in self.outcomes.items() if kind == "failed"]
        failed = [(f.job_id, f.reason, f.detail) for f in finals if isinstance(f, JobFailed)]
        assert not failed, failed


_TOPUPS = "SELECT coalesce(sum(delta_balance), 0) FROM ledger WHERE user_id = $1 AND kind = 'topup'"


class Oracle:
    """Collects the scenario's users, then checks every guarantee over all their jobs."""

    def __init__(self, stack: ChaosStack, client: Bus) -> None:
        self.stack = stack
        self.client = client
        self.users: dict[int, TelegramUserClient] = {}

    async def new_user(self) -> TelegramUserClient:
        """A Telegram user who opened the chat (/start), so the bot may write to them."""
        user = self.stack.user()
        self.users[user.user_id] = user
        await user.send_command("start")
        await user.wait_for_reply(lambda m: "Привет" in text_of(m), timeout=20)
        return user

    async def close(self) -> None:
        for user in self.users.values():
            await user.aclose()

    async def operations(self) -> dict[str, asyncpg.Record]:
        """Billing's operations of the scenario's users, by job id."""
        conn = await asyncpg.connect(self.stack.database_url)
        try:
            return await self._operations(conn)
        finally:
            await conn.close()

    async def _operations(self, conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
        rows = await conn.fetch(
            "SELECT job_id, user_id, status, price FROM operations WHERE user_id = ANY($1::bigint[])",
            list(self.users),
        )
        return {row["job_id"]: row for row in rows}

    async def verify(
        self,
        expected_jobs: Iterable[str] = (),
        timeout: float = 60.0,
        told_at_most: int = 1,
        jobs_per_user: int | None = None,
    ) -> Verdict:
        """Wait for every job of the scenario's users to end, then assert the guarantees.

        ``expected_jobs`` must be among them (a job the test started but billing never saw fails
        here); ``told_at_most`` allows a repeated final message where a scenario kills a sender
        between sending and recording it (delivery is at least once by design); ``jobs_per_user``
        says how many jobs each user ordered through the bot (none lost, none taken twice).
        """
        expected = set(expected_jobs)
        conn = await asyncpg.connect(self.stack.database_url)
        try:
            ops: dict[str, asyncpg.Record] = {}

            async def all_final() -> bool:
                nonlocal ops
                ops = await self._operations(conn)
                if not expected <= ops.keys():
                    return False
                finals = await self.client.final_counts()
                return all(job in finals for job in ops) and all(
                    row["status"] != "PENDING" for row in ops.values()
                )

            try:
                await eventually(all_final, timeout, "every job ended and was settled")
            except AssertionError:
                pending = [j for j, row in ops.items() if row["status"] == "PENDING"]
                missing = sorted(expected - ops.keys())
                raise AssertionError(
                    f"jobs not finished within {timeout:.0f}s: PENDING {pending}, never reserved {missing}"
                ) from None
            await eventually(
                lambda: self.client.consumer_drained(subjects.EVENTS_STREAM, subjects.BILLING_SAGA_CONSUMER),
                20,
                "billing's saga drained",
            )
            if jobs_per_user is not None:
                per_user = Counter(row["user_id"] for row in ops.values())
                assert {user: per_user[user] for user in self.users} == dict.fromkeys(
                    self.users, jobs_per_user
                ), "jobs per user"
            finals = await self.client.final_counts()
            outcomes: dict[str, str] = {}
            for job_id, row in ops.items():
                kinds = finals[job_id]
                assert sum(kinds.values()) == 1, f"job {job_id} ended {dict(kinds)}"
                (outcome,) = kinds
                outcomes[job_id] = outcome
                status = {"succeeded": "CHARGED", "failed": "FAILED"}[outcome]
                assert row["status"] == status, f"job {job_id} {outcome} but billing has {row['status']}"
            report = await check_consistency(conn)
            assert report.ok, f"ledger inconsistent: {report}"
            await eventually(self._billing_says_consistent, 10, "billing's consistency metric at 1")
            unpaid = [
                job for job in self.client.published if job in finals and not await self._reserved(conn, job)
            ]
            assert not unpaid, f"jobs ran without a reservation: {unpaid}"
            users = {row["user_id"] for row in ops.values()}
            for user_id in users:
                view = await self.client.ensure_user(user_id)
                mine = [r for r in ops.values() if r["user_id"] == user_id]
                charged = sum(r["price"] for r in mine if r["status"] == "CHARGED")
                topups = await conn.fetchval(_TOPUPS, user_id)
                assert (view.balance, view.reserved) == (WELCOME_KOPECKS + topups - charged, 0), user_id
        finally:
            await conn.close()
        await self._verify_told(ops, told_at_most)
        return Verdict(outcomes)

    async def _billing_says_consistent(self) -> bool:
        return await self.stack.metric("billing", "medialab_billing_ledger_consistent") == 1

    @staticmethod
    async def _reserved(conn: asyncpg.Connection, job_id: str) -> bool:
        return bool(await conn.fetchval("SELECT count(*) FROM operations WHERE job_id = $1", job_id))

    async def _verify_told(self, ops: dict[str, asyncpg.Record], at_most: int) -> None:
        jobs_of: dict[int, list[str]] = {}
        for job_id, row in ops.items():
            jobs_of.setdefault(row["user_id"], []).append(job_id)
        silent: dict[str, int] = {}

        async def everyone_told() -> bool:
            silent.clear()
            for user_id, jobs in jobs_of.items():
                messages = (await self.users[user_id].transcript()).messages
                for job_id in jobs:
                    told = len(final_messages(messages, job_id))
                    if told == 0 or told > at_most:
                        silent[job_id] = told
            return not silent

        try:
            await eventually(everyone_told, 30, "every user told how each job ended", interval=0.5)
        except AssertionError:
            raise AssertionError(f"final messages per job (want 1..{at_most}): {silent}") from None
