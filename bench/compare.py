"""Our fal pipeline beside the original design, on the same fal emulator and the same jobs, in one run.

``python -m bench compare`` runs, for every W workers × provider latency × account limit of the grid
(W = 3, 10; 1 s, 5 s; 2, 10), a backlog of ``limit + 4 × min(W, limit)`` jobs of the pipeline part's
mix (flux/dev, 64×64) through
- ours: one ``fal-runner`` process (production poll settings, the account's limit in
  ``FAL_ACCOUNT_LIMITS``) fed over JetStream; it has no worker count, so W only sets the job count;
- the baseline: ``bench/baseline.py``, W workers that each take one job, poll every 1 s and sleep
  0.5 s before fetching the result;
with the emulator holding the account to its limit, as fal does (requests over it wait IN_QUEUE).

Figures, per design and scenario:
- slot utilisation: requests IN_PROGRESS at the emulator ÷ the limit, averaged while at least
  ``limit`` jobs were not yet done (work for every slot existed), from the first start;
- jobs in flight: requests the design holds open at fal (accepted, not completed), same window;
- status polls per job (the emulator's count), median and p99;
- per-job overhead: provider done (the emulator's completion) → result in hand (ours: the
  ``succeeded`` event, the image stored; the baseline: result fetched and image downloaded), p50/p99;
- jobs/s over the backlog;
- CPU per job: user + system seconds of the design's processes over the backlog ÷ its jobs;
- peak memory: the sum of PSS over the design's processes (ours: the runner and nats-server, its queue;
  the baseline: its W workers, not its queue, which Redis would be), sampled every 0.2 s.
Times come from one clock (``time.monotonic``, system-wide on Linux). The table prints each figure
for both designs and ours ÷ the baseline's. ``--quick`` runs one tiny scenario (for tests).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fal_runner.arguments import build_arguments
from medialab_contracts.jobs import JobRequest
from medialab_sandbox.fal import FalEmulator
from medialab_sandbox.fal.queue import JobStatus

from bench import baseline, pipeline
from bench.figures import format_value
from bench.processes import ProcessSampler, megabytes

ACCOUNT = "compare"
KEY = "bench-compare:bench-secret"
SAMPLE_S = 0.02


@dataclass(frozen=True)
class Grid:
    workers: tuple[int, ...]
    latencies_s: tuple[float, ...]
    limits: tuple[int, ...]
    rounds: int  # backlog beyond the first ``limit`` jobs, in rounds of min(W, limit) jobs


FULL = Grid(workers=(3, 10), latencies_s=(1.0, 5.0), limits=(2, 10), rounds=4)
QUICK = Grid(workers=(2,), latencies_s=(0.2,), limits=(2,), rounds=1)


@dataclass(frozen=True)
class Scenario:
    workers: int
    latency_s: float
    limit: int
    jobs: int

    @property
    def name(self) -> str:
        return f"W{self.workers}_latency{self.latency_s:g}s_limit{self.limit}"

    @property
    def timeout_s(self) -> float:
        per_job = self.latency_s + baseline.POLL_S + baseline.RESULT_DELAY_S
        return 60.0 + 4 * self.jobs * per_job / min(self.workers, self.limit)


@dataclass
class Watch:
    """Samples the account at the emulator while a backlog runs (same event loop: exact counts)."""

    fal: FalEmulator
    jobs: int
    samples: list[tuple[int, int, int]] = field(default_factory=list)  # running, in flight, not done

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            counts = self.fal.concurrency(ACCOUNT)
            done = sum(1 for job in self.fal.queue.jobs.values() if job.status is JobStatus.COMPLETED)
            self.samples.append((counts.running, counts.in_flight, self.jobs - done))
            await asyncio.sleep(SAMPLE_S)

    def window(self, limit: int) -> list[tuple[int, int, int]]:
        """From the first request started, while every slot had work."""
        first = next((i for i, s in enumerate(self.samples) if s[0] > 0), len(self.samples))
        return [s for s in self.samples[first:] if s[2] >= limit] or self.samples[first:]


# What a design does with a batch: each succeeded job's id → monotonic time its result was in hand.
Deliver = Callable[[list[JobRequest], Scenario], Awaitable[dict[str, float]]]


def _pcts(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (0.0, 0.0)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


async def _measure(
    fal: FalEmulator, pids: dict[str, int], scenario: Scenario, deliver: Deliver
) -> dict[str, Any]:
    fal.reset()
    fal.set_account(ACCOUNT, [KEY], scenario.limit)
    fal.set_latency(run_seconds=scenario.latency_s)
    jobs = [pipeline.new_job(f"a lighthouse at dusk, take {n}") for n in range(scenario.jobs)]
    watch = Watch(fal, len(jobs))
    stop = asyncio.Event()
    with ProcessSampler(pids, "pss") as processes:
        watching = asyncio.create_task(watch.run(stop))
        started = time.monotonic()
        try:
            delivered = await deliver(jobs, scenario)
        finally:
            stop.set()
            await watching
    by_prompt = {
        record.body.get("prompt"): record.request_id for record in fal.submits() if record.request_id
    }
    overheads: list[float] = []
    polls: list[float] = []
    for job in jobs:
        done = fal.job(by_prompt.get(job.prompt) or "")
        if done is None or done.completed_at is None or job.job_id not in delivered:
            continue
        overheads.append((delivered[job.job_id] - done.completed_at) * 1000)
        polls.append(done.status_polls)
    window = watch.window(scenario.limit)
    overhead_p50, overhead_p99 = _pcts(overheads)
    polls_p50, polls_p99 = _pcts(polls)
    counts = fal.concurrency(ACCOUNT)
    elapsed = max(delivered.values(), default=started) - started
    return {
        "jobs": len(jobs),
        "failed": len(jobs) - len(overheads),  # failed, or no result to match with fal's request
        "slot_utilisation": round(statistics.mean(s[0] for s in window) / scenario.limit, 3),
        "jobs_in_flight": round(statistics.mean(s[1] for s in window), 2),
        "max_in_flight": counts.max_in_flight,
        "max_running": counts.max_running,
        "overhead_p50_ms": round(overhead_p50, 1),
        "overhead_p99_ms": round(overhead_p99, 1),
        "status_polls_per_job_median": polls_p50,
        "status_polls_per_job_p99": round(polls_p99, 1),
        "jobs_per_s": round(len(delivered) / max(1e-9, elapsed), 3),
        "cpu_ms_per_job": round(sum(processes.cpu_seconds.values()) * 1000 / len(jobs), 1),
        "peak_pss_mb": megabytes(processes.peak_total),
        "peak_pss_mb_by_process": {name: megabytes(peak) for name, peak in processes.peak.items()},
    }


def _ours(bench: pipeline.Bench) -> Deliver:
    async def deliver(jobs: list[JobRequest], scenario: Scenario) -> dict[str, float]:
        await bench.publish(jobs)
        await bench.wait(jobs, timeout=scenario.timeout_s)
        return {job.job_id: bench.received[job.job_id] for job in jobs if job.job_id not in bench.failed_ids}

    return deliver


def _baseline(pool: baseline.WorkerPool) -> Deliver:
    async def deliver(jobs: list[JobRequest], scenario: Scenario) -> dict[str, float]:
        batch = [
            {"job_id": job.job_id, "model_id": job.model_id, "body": build_arguments(job, [])} for job in jobs
        ]
        records = await asyncio.to_thread(pool.run, batch, scenario.timeout_s)
        return {r["job_id"]: r["delivered_at"] for r in records if r["error"] is None}

    return deliver


async def _run(grid: Grid, workdir: Path) -> dict[str, Any]:
    scenarios: dict[str, Any] = {}
    for limit in grid.limits:
        async with pipeline.stack(workdir / f"limit{limit}", {ACCOUNT: (KEY, limit)}) as bench:
            for latency_s in grid.latencies_s:
                for workers in grid.workers:
                    scenario = Scenario(workers, latency_s, limit, limit + grid.rounds * min(workers, limit))
                    ours = await _measure(bench.fal, bench.pids, scenario, _ours(bench))
                    pool = baseline.WorkerPool(workers, bench.fal.queue_base, KEY, workdir / "logs")
                    await asyncio.to_thread(pool.start)
                    try:
                        theirs = await _measure(bench.fal, pool.pids, scenario, _baseline(pool))
                    finally:
                        await asyncio.to_thread(pool.stop)
                    scenarios[scenario.name] = {
                        "workers": workers,
                        "latency_s": latency_s,
                        "limit": limit,
                        "ours": ours,
                        "baseline": theirs,
                    }
    return scenarios


def run(quick: bool = False) -> dict[str, Any]:
    grid = QUICK if quick else FULL
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        scenarios = asyncio.run(_run(grid, Path(tmp)))
    return {
        "quick": quick,
        "load_avg_1m": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        "scenarios": scenarios,
    }


# ----- the table ----------------------------------------------------------------------------------------

FIGURES: tuple[tuple[str, str], ...] = (
    ("slot_utilisation", "slot utilisation"),
    ("jobs_in_flight", "jobs in flight at fal"),
    ("overhead_p50_ms", "overhead done → result p50, ms"),
    ("overhead_p99_ms", "overhead done → result p99, ms"),
    ("status_polls_per_job_median", "status polls per job, median"),
    ("status_polls_per_job_p99", "status polls per job, p99"),
    ("jobs_per_s", "jobs/s"),
    ("cpu_ms_per_job", "CPU per job, all processes, ms"),
    ("peak_pss_mb", "peak PSS, all processes, MB"),
    ("failed", "failed jobs"),
)


def ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None:  # a run recorded before the figure existed
        return "—"
    if theirs == 0:
        return "—" if ours == 0 else "∞"
    return f"{ours / theirs:.2f}"


def table(result: dict[str, Any]) -> str:
    lines = [f"{'scenario':<26} {'figure':<32} {'ours':>10} {'baseline':>10} {'ours/base':>10}"]
    for scenario in result.get("scenarios", {}).values():
        label = f"W={scenario['workers']} {scenario['latency_s']:g} s limit {scenario['limit']}"
        for key, figure in FIGURES:
            ours, theirs = scenario["ours"].get(key), scenario["baseline"].get(key)
            ours_text, theirs_text = format_value(ours), format_value(theirs)
            lines.append(
                f"{label:<26} {figure:<32} {ours_text:>10} {theirs_text:>10} {ratio(ours, theirs):>10}"
            )
            label = ""
    return "\n".join(lines)
