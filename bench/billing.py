"""Billing throughput: reserve + settle pairs per second over NATS with 1, 8 and 64 concurrent clients.

``python -m bench.billing`` starts its own nats-server and PostgreSQL (or uses ``DATABASE_URL``, in a
fresh database), runs the billing service in this process and drives it from a separate client
process, as the gateway would be. Each figure is the median of three runs. ``run()`` returns the
figures for an aggregate ``python -m bench``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import nats
from billing.app import setup
from billing.settings import BillingSettings
from medialab_contracts import subjects
from medialab_contracts.billing import (
    BalanceRequest,
    BalanceView,
    EnsureUserRequest,
    OperationView,
    ReserveReply,
    ReserveRequest,
    SettleRequest,
    TopupReply,
    TopupRequest,
)
from medialab_contracts.errors import ServiceUnavailable, UnknownUser
from medialab_contracts.ids import new_job_id, new_request_id
from medialab_contracts.modes import Mode
from medialab_contracts.money import MAX_AMOUNT
from medialab_devstack.nats_server import NatsServer
from medialab_devstack.postgres import EmbeddedPostgres, fresh_database_name, with_database
from medialab_runtime.rpc import call
from medialab_runtime.service import run_service

CONCURRENCY = (1, 8, 64)
RUNS = 3
RUN_SECONDS = 3.0
QUICK = ((1, 8), 1, 0.5)  # concurrency, runs, seconds: ``--quick``, for tests
PRICE = 100
ADMIN_ID = 1
FIRST_USER = 1000
TARGET_AT_64 = 1000


async def _client_pairs(nats_url: str, concurrency: int, seconds: float) -> tuple[int, float]:
    """``concurrency`` loops of reserve + settle, each on its own user, for ``seconds``."""
    nc = await nats.connect(nats_url)
    pairs = 0

    async def loop(user_id: int, until: float) -> None:
        nonlocal pairs
        while time.perf_counter() < until:
            job_id = new_job_id()
            reserve = ReserveRequest(
                job_id=job_id, user_id=user_id, price=PRICE, mode=Mode.create, model_id="fal-ai/nano-banana"
            )
            await call(nc, subjects.BILLING_RESERVE, reserve, ReserveReply)
            await call(nc, subjects.BILLING_SETTLE, SettleRequest(job_id=job_id), OperationView)
            pairs += 1

    try:
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(loop(FIRST_USER + i, until) for i in range(concurrency)))
        return pairs, time.perf_counter() - started
    finally:
        await nc.close()


def client_run(nats_url: str, concurrency: int, seconds: float) -> float:
    """Runs in the client process: pairs per second."""
    pairs, elapsed = asyncio.run(_client_pairs(nats_url, concurrency, seconds))
    return pairs / elapsed


async def _prepare_users(nats_url: str, count: int) -> None:
    nc = await nats.connect(nats_url)
    try:
        for i in range(count):
            user_id = FIRST_USER + i
            await call(nc, subjects.BILLING_ENSURE_USER, EnsureUserRequest(user_id=user_id), BalanceView)
            topup = TopupRequest(
                request_id=new_request_id(), admin_id=ADMIN_ID, target_user_id=user_id, amount=MAX_AMOUNT
            )
            await call(nc, subjects.BILLING_TOPUP, topup, TopupReply)
    finally:
        await nc.close()


async def _wait_until_serving(nats_url: str, timeout: float = 60) -> None:
    nc = await nats.connect(nats_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                await call(nc, subjects.BILLING_BALANCE, BalanceRequest(user_id=1), BalanceView, timeout=1)
                return
            except UnknownUser:
                return
            except ServiceUnavailable:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await nc.close()


@asynccontextmanager
async def _database(workdir: Path) -> AsyncIterator[str]:
    external = os.environ.get("DATABASE_URL")
    pg = None
    if external:
        admin_url = external
    else:
        pg = EmbeddedPostgres(workdir / "pg")
        await asyncio.to_thread(pg.start)
        admin_url = pg.url("postgres")
    name = fresh_database_name("bench")
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin_url, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if pg is not None:
            await asyncio.to_thread(pg.stop)


def _settings(nats_url: str, database_url: str) -> BillingSettings:
    return BillingSettings(
        nats_url=nats_url,
        database_url=database_url,
        http_port=0,
        log_level="WARNING",
        admin_ids=[ADMIN_ID],
        shutdown_grace_s=2,
    )


async def _bench(
    concurrency: tuple[int, ...] = CONCURRENCY, runs: int = RUNS, seconds: float = RUN_SECONDS
) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-billing-") as tmp:
        workdir = Path(tmp)
        server = NatsServer(workdir / "nats")
        server.start()
        try:
            async with _database(workdir) as database_url:
                settings = _settings(server.url, database_url)
                service = asyncio.create_task(run_service("billing", settings, setup))
                try:
                    await _wait_until_serving(server.url)
                    await _prepare_users(server.url, max(concurrency))
                    return await _measure(server.url, settings, concurrency, runs, seconds)
                finally:
                    service.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await service
        finally:
            server.stop()


async def _measure(
    nats_url: str,
    settings: BillingSettings,
    concurrency_levels: tuple[int, ...],
    repeats: int,
    seconds: float,
) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    figures: dict[str, float] = {}
    runs: dict[str, list[float]] = {}
    cpu_ms: dict[str, float] = {}  # CPU this process (billing alone) spent per pair
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as clients:
        await loop.run_in_executor(clients, client_run, nats_url, 8, 1.0)  # warm-up
        for concurrency in concurrency_levels:
            rates, costs = [], []
            for _ in range(repeats):
                cpu_before = time.process_time()
                rate = await loop.run_in_executor(clients, client_run, nats_url, concurrency, seconds)
                rates.append(rate)
                costs.append((time.process_time() - cpu_before) * 1000 / (rate * seconds))
            runs[str(concurrency)] = [round(r, 1) for r in rates]
            figures[str(concurrency)] = round(statistics.median(rates), 1)
            cpu_ms[str(concurrency)] = round(statistics.median(costs), 3)
    return {
        "name": "billing",
        "unit": "reserve+settle pairs/s",
        "median_pairs_per_s": figures,
        "runs": runs,
        "billing_cpu_ms_per_pair": cpu_ms,
        "target_at_64": TARGET_AT_64,
        "meets_target": figures[str(max(concurrency_levels))] >= TARGET_AT_64,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "pool_max_size": settings.pool_max_size,
    }


def run(quick: bool = False) -> dict[str, object]:
    return asyncio.run(_bench(*QUICK) if quick else _bench())


def main() -> None:
    result = run()
    for concurrency, rate in result["median_pairs_per_s"].items():  # type: ignore[union-attr]
        print(f"billing  {concurrency:>3} clients  {rate:>8.1f} pairs/s (median of {RUNS})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
