"""Composition of the billing service: ``setup(ctx)`` wires PostgreSQL, the API, the saga and the loops."""

from __future__ import annotations

import asyncio
import logging

from medialab_runtime.service import ServiceContext, package_version

from billing import metrics
from billing.api import Billing, serve
from billing.audit import run_audit
from billing.db import Database
from billing.privacy import run_retention
from billing.saga import Saga
from billing.settings import BillingSettings
from billing.sweeper import run_sweeper

log = logging.getLogger(__name__)

DIST = "medialab-billing"


async def setup(ctx: ServiceContext[BillingSettings]) -> None:
    settings = ctx.settings
    db = Database(settings)

    async def postgres_ready() -> bool:
        up = await db.ping()
        metrics.POSTGRES_UP.set(1 if up else 0)
        return up

    ctx.health.add_check("postgres", postgres_ready)
    if not await db.open_until_up(ctx.stopping):
        return
    ctx.on_shutdown(db.close)
    metrics.POSTGRES_UP.set(1)

    billing = Billing(db, settings, ctx.js)
    in_flight: set[asyncio.Task[None]] = set()
    service = await serve(ctx.nc, billing, package_version(DIST), in_flight)

    async def stop_serving() -> None:
        # No new requests; the ones already taken are answered before the pool closes.
        await service.stop()
        if in_flight:
            await asyncio.wait(set(in_flight), timeout=settings.shutdown_grace_s or None)

    loops = [
        ctx.spawn(Saga(ctx.js, billing, settings).run(ctx.stopping), "billing-saga"),
        ctx.spawn(run_sweeper(db, ctx.js, settings, ctx.stopping), "billing-sweeper"),
        ctx.spawn(run_audit(db, settings.consistency_interval_s, ctx.stopping), "billing-audit"),
        ctx.spawn(
            run_retention(
                db,
                settings.retention_days,
                settings.sweeper_batch,
                settings.retention_interval_s,
                ctx.stopping,
            ),
            "billing-retention",
        ),
    ]

    async def finish_loops() -> None:
        # Each loop ends its round once ``stopping`` is set; the pool closes after them.
        await asyncio.wait(loops, timeout=settings.shutdown_grace_s or None)

    ctx.on_shutdown(finish_loops)
    ctx.on_shutdown(stop_serving)
    if settings.job_signing_key is None:
        log.warning(
            "JOB_SIGNING_KEY is not set: jobs are queued unsigned, and runners that hold a key refuse "
            "them; give billing and every job consumer the same key (production requires it)"
        )
    log.info("billing serving; %d admins", len(settings.admin_ids))
