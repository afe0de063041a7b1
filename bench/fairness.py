"""Per-account fairness: two fal accounts, uneven jobs, two runner replicas sharing the slots.

``python -m bench fairness`` starts nats-server, the fal emulator (here) and two ``fal-runner``
processes with the pipeline part's accounts, ``small`` at 2 requests in progress and ``large`` at 10,
then publishes a backlog of uneven jobs: two in three are flux/dev jobs of 1 s, one in three
seedream jobs of 5 s, in a seeded random order. The replicas take jobs from one JetStream consumer
and share the accounts' slots over NATS (docs/provider-slots.md). Figures:
- each account's slot utilisation: the mean of its requests open at the emulator ÷ its limit, while
  jobs still wait to be submitted, from the moment every slot is busy; target ≥ 0.95;
- each account's most requests open at once, counted by the emulator (which holds the accounts to
  no limit, so a slot used twice would show); target ≤ its limit;
- status polls per job, failed jobs.
``--quick`` runs a tiny backlog (for tests).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from pathlib import Path
from typing import Any

from medialab_contracts.catalog import default_catalog
from medialab_contracts.jobs import JobRequest
from medialab_contracts.modes import Mode

from bench import pipeline

REPLICAS = 2
SHORT_S = 1.0
LONG_S = 5.0
LONG_SHARE = 1 / 3
BACKLOG_JOBS = 200  # ~40 s of backlog at 12 slots and a mean job of 2.3 s
QUICK_BACKLOG_JOBS = 30
LONG_MODEL = default_catalog().by_key("sd")  # seedream: another model id, so its latency is its own


def _backlog(count: int, seed: int = 1) -> list[JobRequest]:
    rng = random.Random(seed)
    return [
        LONG_MODEL.job(Mode.create, 1, 1, prompt="a harbour at dawn", size=pipeline.TINY)
        if rng.random() < LONG_SHARE
        else pipeline.new_job()
        for _ in range(count)
    ]


async def _run(count: int) -> dict[str, Any]:
    accounts = {
        "small": (pipeline.SMALL_KEY, pipeline.LIMITS["small"]),
        "large": (pipeline.LARGE_KEY, pipeline.LIMITS["large"]),
    }
    with tempfile.TemporaryDirectory(prefix="bench-fairness-") as tmp:
        async with pipeline.stack(Path(tmp), accounts, replicas=REPLICAS) as bench:
            bench.fal.set_latency(run_seconds=SHORT_S)
            bench.fal.set_latency(run_seconds=LONG_S, model=LONG_MODEL.model_id)
            jobs = _backlog(count)
            figures = await pipeline.utilisation(bench, jobs, pipeline.LIMITS)
            return {
                "replicas": REPLICAS,
                "jobs": len(jobs),
                "long_jobs": sum(1 for job in jobs if job.model_id == LONG_MODEL.model_id),
                **figures,
                "failed_jobs": bench.failed,
            }


def run(quick: bool = False) -> dict[str, Any]:
    return asyncio.run(_run(QUICK_BACKLOG_JOBS if quick else BACKLOG_JOBS))
