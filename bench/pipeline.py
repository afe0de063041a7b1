"""The fal job pipeline: slot utilisation, per-job overhead and one runner's throughput.

``python bench/pipeline.py`` starts its own nats-server, the fal emulator in this process and one
``python -m fal_runner`` (production poll and slot settings), then prints:
(a) slot utilisation with a backlog: achieved throughput ÷ (N ÷ emulator latency), target ≥ 0.95;
(b) pipeline overhead per job with a zero-latency emulator, p50 and p99 of job published → provider
    submit and of provider done → ``succeeded`` event received, targets p50 < 20 ms, p99 < 100 ms;
(c) jobs per second through one runner with a zero-latency emulator.
Times (b) come from one clock: the emulator runs here and stamps submits and completions with the
same ``time.monotonic`` as the publishing and event-receiving code. ``run()`` returns the figures.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from medialab_contracts import subjects
from medialab_contracts.catalog import default_catalog
from medialab_contracts.events import JobFailed, parse_job_event
from medialab_contracts.jobs import ImageSize, JobRequest
from medialab_contracts.modes import Mode
from medialab_devstack.nats_server import NatsServer
from medialab_devstack.stack import ServiceProcess
from medialab_runtime.provisioning import ensure_layout
from medialab_sandbox.fal import FalEmulator
from nats.aio.client import Client

KEY = "bench-key:bench-secret"
SLOTS = 10
LATENCY_S = 1.0
BACKLOG_JOBS = 150  # a multiple of SLOTS
OVERHEAD_JOBS = 200
THROUGHPUT_JOBS = 300
# flux/dev at 64×64: the emulator renders every output with Pillow (≈70 ms for nano-banana's 1024²
# PNG), which would be charged to the pipeline it shares this machine with.
MODEL = default_catalog().by_key("flux")
TINY = ImageSize(width=64, height=64)


def _job() -> JobRequest:
    return MODEL.job(Mode.create, 1, 1, prompt="a lighthouse at dusk", size=TINY)


@dataclass
class Bench:
    nc: Client
    fal: FalEmulator
    received: dict[str, float] = field(default_factory=dict)  # job id → monotonic time of its final event
    failed: int = 0
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def on_final(self, msg: Any) -> None:
        now = time.monotonic()
        event = parse_job_event(msg.data)
        async with self._arrived:
            if event.job_id not in self.received:
                self.received[event.job_id] = now
                self.failed += isinstance(event, JobFailed)
            self._arrived.notify_all()

    async def publish(self, jobs: list[JobRequest]) -> dict[str, float]:
        """Publish ``jobs``; returns each one's monotonic publish time."""
        js = self.nc.jetstream()
        published: dict[str, float] = {}
        for job in jobs:
            published[job.job_id] = time.monotonic()
            await js.publish(job.subject, job.model_dump_json().encode(), headers={"Nats-Msg-Id": job.job_id})
        return published

    async def wait(self, jobs: list[JobRequest], timeout: float = 120.0) -> None:
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: all(j.job_id in self.received for j in jobs)), timeout
            )


@asynccontextmanager
async def _stack(workdir: Path) -> AsyncIterator[Bench]:
    server = NatsServer(workdir / "nats")
    server.start()
    try:
        async with FalEmulator([KEY]) as fal:
            nc = await nats.connect(server.url)
            await ensure_layout(nc.jetstream())
            bench = Bench(nc, fal)
            for final in subjects.FINAL_EVENTS_FILTERS:
                await nc.subscribe(final, cb=bench.on_final)
            runner = ServiceProcess(
                "fal-runner",
                env={
                    "NATS_URL": server.url,
                    "FAL_KEYS": KEY,
                    "FAL_CONCURRENCY_PER_KEY": str(SLOTS),
                    "FAL_QUEUE_BASE": fal.queue_base,
                    "FAL_REST_BASE": fal.rest_base,
                    "LOG_LEVEL": "WARNING",
                },
                log_dir=workdir / "logs",
            )
            runner.start()
            try:
                await asyncio.to_thread(runner.wait_ready, 60)
                yield bench
            finally:
                await asyncio.to_thread(runner.stop)
                await nc.close()
    finally:
        server.stop()


async def _utilisation(bench: Bench) -> dict[str, float]:
    """Throughput while a backlog lasts: from the first job that ran in a freed slot to the first of
    the last round, so neither the first fetch nor the last requests (nothing follows them) count.
    Both ends sit at the same place of a round of SLOTS jobs, so the count between them is exact."""
    bench.fal.set_latency(run_seconds=LATENCY_S)
    jobs = [_job() for _ in range(BACKLOG_JOBS)]
    await bench.publish(jobs)
    await bench.wait(jobs)
    finished = sorted(bench.received[j.job_id] for j in jobs)
    first, last = SLOTS, len(finished) - SLOTS
    throughput = (last - first) / (finished[last] - finished[first])
    # How long the emulator itself held each request (1 s asked for, plus its own event-loop lag).
    requests = bench.fal.queue.jobs.values()
    held = [r.completed_at - r.submitted_at for r in requests if r.completed_at is not None]
    return {
        "utilisation": round(throughput / (SLOTS / LATENCY_S), 3),
        "backlog_jobs_per_s": round(throughput, 2),
        "max_in_flight": bench.fal.concurrency(KEY).max_in_flight,
        "emulator_request_s": round(statistics.mean(held), 3),
    }


def _percentiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return round(cuts[49] * 1000, 2), round(cuts[98] * 1000, 2)


async def _overhead(bench: Bench) -> dict[str, float]:
    bench.fal.set_latency(run_seconds=0.0)
    bench.fal.recorder.clear()
    to_submit: list[float] = []
    to_event: list[float] = []
    for _ in range(OVERHEAD_JOBS):
        job = _job()
        published = (await bench.publish([job]))[job.job_id]
        await bench.wait([job])
        record = [r for r in bench.fal.submits() if r.request_id][-1]  # jobs run one at a time here
        done = bench.fal.job(record.request_id or "")
        assert done is not None and done.completed_at is not None
        to_submit.append(done.submitted_at - published)
        to_event.append(bench.received[job.job_id] - done.completed_at)
    submit_p50, submit_p99 = _percentiles(to_submit)
    event_p50, event_p99 = _percentiles(to_event)
    return {
        "publish_to_submit_p50_ms": submit_p50,
        "publish_to_submit_p99_ms": submit_p99,
        "done_to_event_p50_ms": event_p50,
        "done_to_event_p99_ms": event_p99,
    }


async def _throughput(bench: Bench) -> dict[str, float]:
    bench.fal.set_latency(run_seconds=0.0)
    jobs = [_job() for _ in range(THROUGHPUT_JOBS)]
    started = time.monotonic()
    await bench.publish(jobs)
    await bench.wait(jobs)
    elapsed = max(bench.received[j.job_id] for j in jobs) - started
    return {"jobs_per_s_one_runner": round(len(jobs) / elapsed, 1)}


async def _run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        async with _stack(Path(tmp)) as bench:
            figures: dict[str, Any] = {}
            figures.update(await _utilisation(bench))
            figures.update(await _overhead(bench))
            figures.update(await _throughput(bench))
            figures["failed_jobs"] = bench.failed
            return figures


def run() -> dict[str, Any]:
    return asyncio.run(_run())


def main() -> None:
    figures = run()
    print(
        f"(a) slot utilisation with a backlog: {figures['utilisation']:.3f} (target ≥ 0.95): "
        f"{figures['backlog_jobs_per_s']} jobs/s over {SLOTS} slots at {LATENCY_S:.1f} s per request, "
        f"max in flight {figures['max_in_flight']}; the emulator held each request "
        f"{figures['emulator_request_s']:.3f} s on average"
    )
    print(
        "(b) overhead per job, zero-latency emulator (targets p50 < 20 ms, p99 < 100 ms): "
        f"published → submit p50 {figures['publish_to_submit_p50_ms']} ms, "
        f"p99 {figures['publish_to_submit_p99_ms']} ms; "
        f"done → succeeded event p50 {figures['done_to_event_p50_ms']} ms, "
        f"p99 {figures['done_to_event_p99_ms']} ms"
    )
    print(f"(c) one runner, zero-latency emulator: {figures['jobs_per_s_one_runner']} jobs/s")
    if figures["failed_jobs"]:
        print(f"warning: {figures['failed_jobs']} jobs failed")


if __name__ == "__main__":
    main()
