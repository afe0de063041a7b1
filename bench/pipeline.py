"""The fal job pipeline: slot utilisation per account, status polls, per-job overhead, throughput.

``python -m bench pipeline`` (or ``python bench/pipeline.py``) starts its own nats-server, the fal
emulator in this process and one ``python -m fal_runner`` (production poll settings) with two fal
accounts, ``small`` at 2 requests in progress (a new account) and ``large`` at 10, then prints:
(a) slot utilisation of each account with a backlog of 2 s jobs: the mean number of its requests the
    emulator holds open ÷ its limit, target ≥ 0.95; and status polls per 2 s job as counted by the
    emulator, median and p99, target ≤ 20 (fal's own client polls every 0.1 s: 20 in 2 s);
(b) pipeline overhead per job with a zero-latency emulator, p50 and p99 of job published → provider
    submit (targets p50 < 20 ms, p99 < 100 ms) and of provider done → ``succeeded`` event received
    (targets p50 < 100 ms, p99 < 200 ms: a request finishing between two polls is noticed at the
    next one, up to ``FAL_POLL_MIN_S`` = 0.1 s later; until polling was brought to fal's client cadence
    the targets were 20 and 100 ms, bought with ~35 status calls a second per request);
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
from medialab_devstack.launcher import Stack
from medialab_runtime.provisioning import ensure_layout
from medialab_sandbox.fal import FalEmulator
from nats.aio.client import Client

SMALL_KEY = "bench-small:bench-secret-1"
LARGE_KEY = "bench-large:bench-secret-2"
LIMITS = {"small": 2, "large": 10}
LATENCY_S = 2.0  # a fast image model; the "2-second job"


@dataclass(frozen=True)
class Sizes:
    backlog_jobs: int
    overhead_jobs: int
    throughput_jobs: int


FULL = Sizes(backlog_jobs=180, overhead_jobs=200, throughput_jobs=300)  # backlog: ~30 s at 12 slots × 2 s
QUICK = Sizes(backlog_jobs=24, overhead_jobs=3, throughput_jobs=10)  # ``--quick``, for tests
# flux/dev at 64×64: the emulator renders every output with Pillow (≈70 ms for nano-banana's 1024²
# PNG), which would be charged to the pipeline it shares this machine with.
MODEL = default_catalog().by_key("flux")
TINY = ImageSize(width=64, height=64)


def new_job(prompt: str = "a lighthouse at dusk") -> JobRequest:
    """One job of the mix: flux/dev at 64×64 (a distinct ``prompt`` tells its request at fal apart)."""
    return MODEL.job(Mode.create, 1, 1, prompt=prompt, size=TINY)


@dataclass
class Bench:
    nc: Client
    fal: FalEmulator
    accounts: dict[str, str]  # account → its key
    pids: dict[str, int]  # the pipeline's own processes: the runners and nats-server
    received: dict[str, float] = field(default_factory=dict)  # job id → monotonic time of its final event
    failed_ids: set[str] = field(default_factory=set)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def on_final(self, msg: Any) -> None:
        now = time.monotonic()
        event = parse_job_event(msg.data)
        async with self._arrived:
            if event.job_id not in self.received:
                self.received[event.job_id] = now
                if isinstance(event, JobFailed):
                    self.failed_ids.add(event.job_id)
            self._arrived.notify_all()

    @property
    def failed(self) -> int:
        return len(self.failed_ids)

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
async def stack(
    workdir: Path, accounts: dict[str, tuple[str, int]], replicas: int = 1
) -> AsyncIterator[Bench]:
    """nats-server, the fal emulator (here) and ``replicas`` fal-runners with ``accounts``: name →
    (key, limit). The replicas share the accounts' slots, as in production (docs/provider-slots.md)."""
    env = {
        "FAL_ACCOUNT_LIMITS": ",".join(f"{name}={limit}" for name, (_, limit) in accounts.items()),
        "LOG_LEVEL": "WARNING",
    }
    processes = Stack(data_dir=workdir, env=env)
    processes.start_nats()
    try:
        async with FalEmulator([key for key, _ in accounts.values()]) as fal:
            keys = {name: key for name, (key, _) in accounts.items()}
            processes.use_fal(fal.base_url, ",".join(f"{name}={key}" for name, key in keys.items()))
            nc = await nats.connect(processes.nats_url)
            try:
                await ensure_layout(nc.jetstream())
                runners = [processes.launch("fal-runner") for _ in range(replicas)]
                # Waiting for readiness blocks; the emulator serves from this event loop.
                await asyncio.to_thread(processes.wait_ready, 60)
                pids = {
                    "fal-runner" if replicas == 1 else f"fal-runner-{n}": runner.pid
                    for n, runner in enumerate(runners, 1)
                    if runner.pid is not None
                }
                assert processes.nats is not None and processes.nats.pid is not None
                bench = Bench(nc, fal, keys, pids | {"nats-server": processes.nats.pid})
                for final in subjects.FINAL_EVENTS_FILTERS:
                    await nc.subscribe(final, cb=bench.on_final)
                yield bench
            finally:
                await nc.close()
    finally:
        await asyncio.to_thread(processes.stop)


async def utilisation(bench: Bench, jobs: list[JobRequest], limits: dict[str, int]) -> dict[str, Any]:
    """Each account's open requests at the emulator, sampled while ``jobs`` still wait to be
    submitted, from the moment every slot is busy (the ramp-up is no backlog), over its limit.

    The emulator holds the accounts to no limit: a request over one would show as a slot used past it
    (``max_in_flight_<account>``)."""
    for name, key in bench.accounts.items():
        bench.fal.set_account(name, [key])
    samples: list[dict[str, int]] = []

    async def sample() -> None:
        while sum(1 for r in bench.fal.submits() if r.request_id) < len(jobs):
            samples.append({name: bench.fal.concurrency(name).in_flight for name in limits})
            await asyncio.sleep(0.01)

    sampling = asyncio.create_task(sample())
    await bench.publish(jobs)
    await bench.wait(jobs, timeout=240)
    await sampling
    full = sum(limits.values())
    first = next((i for i, s in enumerate(samples) if sum(s.values()) >= full), len(samples))
    backlog = samples[first:] or samples
    polls = sorted(bench.fal.status_polls().values())
    figures: dict[str, Any] = {
        f"utilisation_{name}_{limit}": round(statistics.mean(s[name] for s in backlog) / limit, 3)
        for name, limit in limits.items()
    }
    figures |= {f"max_in_flight_{name}": bench.fal.concurrency(name).max_in_flight for name in limits}
    figures |= {
        "status_polls_per_job_median": statistics.median(polls),
        "status_polls_per_job_p99": _percentile(polls, 99),
        "status_polls_per_job_max": polls[-1],
    }
    return figures


def _percentile(values: list[int], pct: int) -> float:
    return round(statistics.quantiles(values, n=100, method="inclusive")[pct - 1], 1)


def _percentiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return round(cuts[49] * 1000, 2), round(cuts[98] * 1000, 2)


async def _overhead(bench: Bench, count: int) -> dict[str, float]:
    bench.fal.set_latency(run_seconds=0.0)
    bench.fal.clear_faults()  # no accounts: the key is its own, without a limit at the emulator
    bench.fal.recorder.clear()
    to_submit: list[float] = []
    to_event: list[float] = []
    for _ in range(count):
        job = new_job()
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


async def _throughput(bench: Bench, count: int) -> dict[str, float]:
    bench.fal.set_latency(run_seconds=0.0)
    jobs = [new_job() for _ in range(count)]
    started = time.monotonic()
    await bench.publish(jobs)
    await bench.wait(jobs)
    elapsed = max(bench.received[j.job_id] for j in jobs) - started
    return {"jobs_per_s_one_runner": round(len(jobs) / elapsed, 1)}


async def _run(sizes: Sizes) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        accounts = {"small": (SMALL_KEY, LIMITS["small"]), "large": (LARGE_KEY, LIMITS["large"])}
        async with stack(Path(tmp), accounts) as bench:
            figures: dict[str, Any] = {}
            bench.fal.set_latency(run_seconds=LATENCY_S)
            backlog = [new_job() for _ in range(sizes.backlog_jobs)]
            figures.update(await utilisation(bench, backlog, LIMITS))
            figures.update(await _overhead(bench, sizes.overhead_jobs))
            figures.update(await _throughput(bench, sizes.throughput_jobs))
            figures["failed_jobs"] = bench.failed
            return figures


def run(quick: bool = False) -> dict[str, Any]:
    return asyncio.run(_run(QUICK if quick else FULL))


def main() -> None:
    figures = run()
    for name, limit in LIMITS.items():
        print(
            f"(a) slot utilisation of account {name} at limit {limit}, {LATENCY_S:.0f} s jobs with a "
            f"backlog: {figures[f'utilisation_{name}_{limit}']:.3f} (target ≥ 0.95), "
            f"max in flight {figures[f'max_in_flight_{name}']}"
        )
    print(
        f"(a) status polls per {LATENCY_S:.0f} s job, counted by the emulator (target ≤ 20): median "
        f"{figures['status_polls_per_job_median']}, p99 {figures['status_polls_per_job_p99']}, "
        f"max {figures['status_polls_per_job_max']}"
    )
    print(
        "(b) overhead per job, zero-latency emulator: "
        f"published → submit p50 {figures['publish_to_submit_p50_ms']} ms, "
        f"p99 {figures['publish_to_submit_p99_ms']} ms (targets < 20, < 100); "
        f"done → succeeded event p50 {figures['done_to_event_p50_ms']} ms, "
        f"p99 {figures['done_to_event_p99_ms']} ms (targets < 100, < 200: the 0.1 s poll cadence)"
    )
    print(f"(c) one runner, zero-latency emulator: {figures['jobs_per_s_one_runner']} jobs/s")
    if figures["failed_jobs"]:
        print(f"warning: {figures['failed_jobs']} jobs failed")


if __name__ == "__main__":
    main()
