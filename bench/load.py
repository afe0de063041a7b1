"""End-to-end load: K simulated Telegram users drive random modes through the whole stack.

``python -m bench load --users 50`` starts everything the dev launcher starts (its own nats-server and
PostgreSQL, the Telegram/fal/WaveSpeed emulators, the six services as processes), registers K users
(/start), then lets each of them place one order at a fixed overall arrival rate, in a random mode:
M1 (buttons, Nano-banana), M3 (edit one photo), M5 (add text, /skip), M6 (face swap), M7 (upscale).
Providers answer after a fixed latency (2 s by default). Like people, the users read each answer of
the bot before the next step: a think time drawn from 1–3 s (``--think MIN MAX``; ``--think 0 0`` is a
user who answers within milliseconds, whose steps alone use up Telegram's per-chat pacing of 1 msg/s).

Figures:
- pipeline overhead per order: from the update that completes the order (the user's last step) until
  the emulator answered the bot's ``sendDocument`` with the result, minus the job's provider time
  (``provider_ms`` of its ``succeeded`` event: time at fal/WaveSpeed, or text-render's own render);
- how long the bot took to answer the last step («задача принята», sent once the job is published);
- jobs/s delivered, failed and lost orders (no final message within the drain time), internal errors;
- Telegram 429s the emulator sent the bot (its limits are Telegram's: 30/s overall, 1/s per chat);
- peak RSS of every service process (psutil, sampled every 0.2 s, from before a warm-up of one order per
  mode: the measured orders start once every service has done its first job), and the CPU seconds
  each one used over the same span: with ``--users 100 --users 300 --users 1000``, the cost curve;
- whether billing's ledger is consistent afterwards.
Targets: 0 lost, 0 429s, p99 overhead < 250 ms, every service < 200 MB under load and < 150 MB idle.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import random
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
from billing.ledger import check_consistency
from medialab_contracts import subjects
from medialab_contracts.events import JobSucceeded, parse_job_event
from medialab_devstack.launcher import SANDBOX_BOT_TOKEN, Stack
from medialab_devstack.nats_server import admin_url
from medialab_sandbox.fal import FalEmulatorControl
from medialab_sandbox.telegram import (
    EmulatorControl,
    EmulatorError,
    TelegramUserClient,
    TranscriptMessage,
    shared_http,
)
from medialab_sandbox.wavespeed import WaveSpeedEmulatorControl
from nats.js.errors import NotFoundError
from PIL import Image

from bench.processes import ProcessSampler, megabytes

USERS = (50, 200)
# ``python -m bench --quick``: the whole stack, a few orders of users who answer at once from a quick
# provider (for tests: it shows the part runs, not how fast).
QUICK_USERS = 3
QUICK_THINK_S = (0.0, 0.0)
QUICK_LATENCY_S = 0.2
RATE_PER_S = 3.0
PROVIDER_LATENCY_S = 2.0
DRAIN_S = 90.0
THINK_S = (1.0, 3.0)  # seconds a user takes to read the bot's answer and take the next step
TARGET_P99_MS = 250.0
TARGET_RSS_MB = 200.0
TARGET_IDLE_RSS_MB = 150.0  # a started service before its first order
FIRST_USER_ID = 5_000_000
WARM_UP_USER_ID = 4_000_000
INTERNAL_ERROR = "Что-то пошло не так"
FAILED = "не получилось"
JOB_IN_BUTTONS = re.compile(r":([0-9a-f]{32}):")

ENV = {
    "LOG_LEVEL": "WARNING",
    "LOG_FORMAT": "text",
    "WELCOME_CREDIT": "1000000",
    "STYLE_LLM_ENABLED": "false",
    # The top of fal's automatic range: this bench measures our overhead, not a new account's 2 slots.
    "FAL_CONCURRENCY_PER_ACCOUNT": "40",
}


def _image(size: tuple[int, int], fmt: str, seed: int) -> bytes:
    rng = random.Random(seed)
    color = tuple(rng.randrange(256) for _ in range(3))
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def _text(message: TranscriptMessage) -> str:
    return message.text or message.caption or ""


def _has(fragment: str) -> Callable[[TranscriptMessage], bool]:
    return lambda message: fragment in _text(message)


@dataclass
class Order:
    user: TelegramUserClient
    mode: str
    think_s: tuple[float, float] = (0.0, 0.0)
    rng: random.Random = field(default_factory=random.Random)
    sent_at: float = 0.0  # wall clock of the last user step (the update that starts the job)
    last_user_message: int = 0
    outcome: str = "lost"  # "succeeded", "failed", "lost"
    job_id: str | None = None
    error: str | None = None

    async def pause(self) -> None:
        """The user reads the bot's answer before the next step."""
        await asyncio.sleep(self.rng.uniform(*self.think_s))


# ----- the user flows: every step waits for the bot's answer, the last one starts the job ------------


async def _last_step(order: Order, send: Callable[[], Awaitable[TranscriptMessage]]) -> None:
    order.sent_at = time.time()
    order.last_user_message = (await send()).message_id


async def _press(user: TelegramUserClient, message: TranscriptMessage, label: str) -> None:
    await user.press_button(message.message_id, text=message.button(label).text)


async def create(order: Order, n: int) -> None:
    user = order.user
    await user.send_text("🎨 Создать")
    models = await user.wait_for_reply(_has("Выберите модель"), timeout=30)
    await order.pause()
    await _press(user, models, "Nano-banana")
    formats = await user.wait_for_message(predicate=_has("Выберите формат"), timeout=30)
    await order.pause()
    await _press(user, formats, "Квадрат")
    await user.wait_for_message(predicate=_has("Напишите промпт"), timeout=30)
    await order.pause()
    await _last_step(order, lambda: user.send_text(f"воздушный шар номер {n} над морем"))


async def edit(order: Order, n: int) -> None:
    user = order.user
    await user.send_text("✏️ Изменить")
    models = await user.wait_for_reply(_has("Выберите модель"), timeout=30)
    await order.pause()
    await _press(user, models, "Nano-Banana")
    await user.wait_for_message(predicate=_has("Отправьте от 1 до 4"), timeout=30)
    await order.pause()
    await user.send_photo(_image((320, 240), "JPEG", n))
    await user.wait_for_reply(_has("Изображений загружено"), timeout=30)
    await order.pause()
    await _last_step(order, lambda: user.send_text("добавь радугу на небо"))


async def add_text(order: Order, n: int) -> None:
    user = order.user
    await user.send_text("📝 Добавить текст")
    await user.wait_for_reply(_has("Стоимость"), timeout=30)
    await order.pause()
    await user.send_document(_image((480, 320), "PNG", n), "card.png", mime_type="image/png")
    await user.wait_for_reply(_has("Введите текст"), timeout=30)
    await order.pause()
    await user.send_text(f"С днём рождения! 🎉\nзаказ {n}")
    await user.wait_for_reply(_has("/skip"), timeout=30)
    await order.pause()
    await _last_step(order, lambda: user.send_command("skip"))


async def face_swap(order: Order, n: int) -> None:
    user = order.user
    await user.send_text("🔄 Заменить лицо")
    await user.wait_for_reply(_has("источник"), timeout=30)
    await order.pause()
    await user.send_photo(_image((160, 160), "JPEG", n))
    await user.wait_for_reply(_has("на котором нужно заменить лицо"), timeout=30)
    await order.pause()
    await _last_step(order, lambda: user.send_photo(_image((240, 180), "JPEG", n + 1)))


async def upscale(order: Order, n: int) -> None:
    user = order.user
    await user.send_text("⬆️ Улучшить")
    await user.wait_for_reply(_has("Отправьте"), timeout=30)
    await order.pause()
    await _last_step(order, lambda: user.send_photo(_image((256, 192), "JPEG", n)))


FLOWS: dict[str, Callable[[Order, int], Awaitable[None]]] = {
    "create": create,
    "edit": edit,
    "text": add_text,
    "faceswap": face_swap,
    "upscale": upscale,
}


def _final(message: TranscriptMessage) -> bool:
    return message.document is not None or FAILED in _text(message) or INTERNAL_ERROR in _text(message)


def _asks_to_launch(message: TranscriptMessage) -> bool:
    return any("Запустить" in button.text for button in message.inline_buttons)


async def _place(order: Order, n: int, drain_until: float) -> None:
    user = order.user
    try:
        await FLOWS[order.mode](order, n)
        final = await user.wait_for_message(
            predicate=lambda m: _final(m) or _asks_to_launch(m),
            after=order.last_user_message,
            timeout=max(1.0, drain_until - time.time()),
        )
        if _asks_to_launch(final):  # the price first, the job on «✅ Запустить»: the press is the last step
            await order.pause()
            order.sent_at = time.time()
            await user.press_button(final.message_id, text=final.button("Запустить").text)
            final = await user.wait_for_message(
                predicate=_final, after=final.message_id, timeout=max(1.0, drain_until - time.time())
            )
    except (TimeoutError, LookupError, EmulatorError, httpx.HTTPError) as error:
        order.error = f"{type(error).__name__}: {error}"[:300]
        return
    if final.document is not None:
        order.outcome = "succeeded"
        found = JOB_IN_BUTTONS.search(" ".join(b.callback_data or "" for b in final.inline_buttons) + ":")
        order.job_id = found.group(1) if found else None
    else:
        order.outcome = "failed"
        order.error = _text(final)[:300]


# ----- the run ------------------------------------------------------------------------------------------


def _percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"p50": round(values[0], 1) if values else 0.0, "p95": 0.0, "p99": 0.0}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "p99": round(cuts[98], 1)}


async def _provider_ms(nats_url: str, job_ids: list[str]) -> dict[str, int]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        found = {}
        for job_id in job_ids:
            try:
                msg = await js.get_last_msg(
                    subjects.EVENTS_STREAM, subjects.event_subject(job_id, "succeeded")
                )
            except NotFoundError:
                continue
            event = parse_job_event(msg.data or b"")
            if isinstance(event, JobSucceeded):
                found[job_id] = event.provider_ms
        return found
    finally:
        await nc.close()


async def _ledger(database_url: str, settle_s: float = 15.0) -> tuple[bool, int]:
    """Whether billing's ledger matches every balance, and how many operations are still PENDING once
    billing had ``settle_s`` to settle the last results (the user may see one before it is charged)."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + settle_s
        while True:
            pending = await conn.fetchval("SELECT count(*) FROM operations WHERE status = 'PENDING'")
            if pending == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        report = await check_consistency(conn)
        return report.ok, int(pending)
    finally:
        await conn.close()


async def _prepare(stack: Stack, latency_s: float) -> None:
    env = stack.env
    async with FalEmulatorControl(env["FAL_QUEUE_BASE"].removesuffix("/queue")) as fal:
        await fal.set_latency(run_seconds=latency_s)
    async with WaveSpeedEmulatorControl(env["WAVESPEED_API_BASE"]) as wavespeed:
        await wavespeed.configure(processing_seconds=latency_s)


async def _register(users: list[TelegramUserClient]) -> None:
    gate = asyncio.Semaphore(20)

    async def one(user: TelegramUserClient) -> None:
        async with gate:
            await user.send_command("start")
            await user.wait_for_reply(_has("Привет"), timeout=60)

    await asyncio.gather(*(one(user) for user in users))


async def _warm_up(api: str, http: httpx.AsyncClient, think_s: tuple[float, float]) -> None:
    """One order per mode before the measured ones: a service's first job pays one-off costs (image
    codecs imported, first connections, thread pools started) that are not the pipeline's overhead."""
    ids = range(WARM_UP_USER_ID, WARM_UP_USER_ID + len(FLOWS))
    users = [TelegramUserClient(api, SANDBOX_BOT_TOKEN, user_id=user_id, http=http) for user_id in ids]
    await _register(users)
    orders = [Order(user, mode, think_s) for user, mode in zip(users, FLOWS, strict=True)]
    until = time.time() + DRAIN_S
    await asyncio.gather(*(_place(order, n, until) for n, order in enumerate(orders)))
    failed = [f"{o.mode}: {o.outcome} {o.error}" for o in orders if o.outcome != "succeeded"]
    if failed:
        raise RuntimeError(f"warm-up orders did not succeed: {failed}")


async def _drive(
    stack: Stack, users: int, rate: float, latency_s: float, think_s: tuple[float, float], seed: int
) -> dict[str, Any]:
    await _prepare(stack, latency_s)
    api = stack.env["TELEGRAM_API_BASE"]
    rng = random.Random(seed)
    async with shared_http(api) as http:
        clients = [
            TelegramUserClient(api, SANDBOX_BOT_TOKEN, user_id=FIRST_USER_ID + i, http=http)
            for i in range(users)
        ]
        orders = [
            Order(user, rng.choice(list(FLOWS)), think_s, random.Random(rng.random())) for user in clients
        ]
        await _register(clients)
        # The users live through the run: a full collection of the load generator would walk all of them
        # (110-150 ms at 1,000 users), and a stall between stamping an order's step and sending it
        # counts as the pipeline's overhead.
        gc.collect()
        gc.freeze()
        try:
            async with EmulatorControl(api, SANDBOX_BOT_TOKEN) as control:
                await control.clear_rate_limit_hits()
                pids = {p.name: p.pid for p in stack.services if p.pid is not None}
                with ProcessSampler(pids) as processes:
                    await _warm_up(api, http, think_s)
                    started = time.time()
                    drain_until = started + len(orders) / rate + DRAIN_S
                    tasks = []
                    for n, order in enumerate(orders):
                        await asyncio.sleep(max(0.0, started + n / rate - time.time()))
                        tasks.append(asyncio.create_task(_place(order, n, drain_until)))
                    await asyncio.gather(*tasks)
                requests = await control.requests()
                hits = await control.rate_limit_hits()
        finally:
            gc.unfreeze()

    sent_documents: dict[int, float] = {}
    for record in requests:
        if record.method == "sendDocument" and record.status_code == 200 and record.chat_id is not None:
            sent_documents.setdefault(record.chat_id, record.at)
    # The «задача принята» message: the gateway's first answer to the order's last step.
    status_ms: dict[int, float] = {}
    for order in orders:
        answers = [r.at for r in requests if r.chat_id == order.user.chat_id and r.at >= order.sent_at]
        if order.sent_at and answers:
            status_ms[order.user.chat_id] = (min(answers) - order.sent_at) * 1000
    done = [o for o in orders if o.outcome == "succeeded" and o.job_id]
    provider = await _provider_ms(admin_url(stack.env["NATS_URL"]), [o.job_id for o in done if o.job_id])
    overheads: dict[str, list[float]] = {}
    past_status: list[float] = []  # the overhead less the wait for the status message's chat slot
    for order in done:
        delivered = sent_documents.get(order.user.chat_id)
        if delivered is None or order.job_id not in provider:
            continue
        ms = (delivered - order.sent_at) * 1000 - provider[order.job_id]
        overheads.setdefault(order.mode, []).append(ms)
        past_status.append(ms - status_ms.get(order.user.chat_id, 0.0))
    every = [ms for values in overheads.values() for ms in values]
    last_delivery = max(sent_documents.values(), default=started)
    consistent, pending = await _ledger(stack.env["DATABASE_URL"])
    lost = sum(1 for o in orders if o.outcome == "lost")
    peak_mb = {name: megabytes(peak) for name, peak in processes.peak.items()}
    start_mb = {name: megabytes(first) for name, first in processes.first.items()}
    overhead = _percentiles(every)
    return {
        "users": users,
        "orders": len(orders),
        "rate_per_s": rate,
        "provider_latency_s": latency_s,
        "think_s": list(think_s),
        "modes": {mode: sum(1 for o in orders if o.mode == mode) for mode in FLOWS},
        "succeeded": len(done),
        "failed": sum(1 for o in orders if o.outcome == "failed"),
        "lost": lost,
        "pending_after": pending,
        "internal_errors": sum(1 for o in orders if o.error and INTERNAL_ERROR in o.error),
        "jobs_per_s": round(len(done) / max(1e-9, last_delivery - started), 2),
        "overhead_ms": overhead,
        "overhead_ms_by_mode": {mode: _percentiles(values) for mode, values in sorted(overheads.items())},
        "status_message_ms": _percentiles(list(status_ms.values())),
        "overhead_after_status_ms": _percentiles(past_status),
        "telegram_429": len(hits),
        "peak_rss_mb": peak_mb,
        "rss_at_start_mb": start_mb,
        "cpu_seconds": processes.cpu_seconds,
        "ledger_consistent": consistent,
        "errors": sorted({o.error for o in orders if o.error})[:10],
        "ok": lost == 0
        and pending == 0
        and not hits
        and consistent
        and overhead["p99"] < TARGET_P99_MS
        and all(mb < TARGET_RSS_MB for mb in peak_mb.values())
        and all(mb < TARGET_IDLE_RSS_MB for mb in start_mb.values()),
    }


def run_users(
    users: int,
    rate: float = RATE_PER_S,
    latency_s: float = PROVIDER_LATENCY_S,
    think_s: tuple[float, float] = THINK_S,
    seed: int = 1,
) -> dict:
    """One load run on a fresh stack."""
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        stack = Stack(data_dir=Path(tmp), env=dict(ENV))
        try:
            stack.start_infrastructure()
            stack.start_sandboxes()
            stack.start_services()
            return asyncio.run(_drive(stack, users, rate, latency_s, think_s, seed))
        finally:
            stack.stop()


def run(
    users: tuple[int, ...] = USERS,
    rate: float = RATE_PER_S,
    latency_s: float = PROVIDER_LATENCY_S,
    think_s: tuple[float, float] = THINK_S,
) -> dict:
    """Figures per K, e.g. ``{"users_50": {...}, "users_200": {...}}``."""
    return {f"users_{k}": run_users(k, rate, latency_s, think_s) for k in users}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, action="append", help=f"K, repeatable (default {USERS})")
    parser.add_argument("--rate", type=float, default=RATE_PER_S, help="orders/s, all users together")
    parser.add_argument("--latency", type=float, default=PROVIDER_LATENCY_S, help="provider s per job")
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        default=THINK_S,
        metavar=("MIN", "MAX"),
        help="seconds a user takes before each step (default %(default)s)",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    add_arguments(parser)
    args = parser.parse_args(argv)
    figures = run(tuple(args.users or USERS), args.rate, args.latency, tuple(args.think))
    print(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
