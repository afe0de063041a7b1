"""JetStream throughput of one stream: acknowledged job publishes per second into JOBS, on one
nats-server (one copy) and on a three-node cluster on loopback (three copies).

Each publish is a real ``JobRequest`` (≈ 600 bytes) with its ``Nats-Msg-Id``, into the JOBS stream of
the production layout, ``WINDOW`` publishes awaiting their acknowledgement at a time (as many
gateways and billing replicas would). Every figure is the median of three runs of ``RUN_SECONDS``.
``run()`` returns the figures for ``python -m bench jetstream``; docs/SCALING.md quotes them.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import nats
from medialab_contracts.catalog import default_catalog
from medialab_contracts.jobs import ImageSize
from medialab_contracts.modes import Mode
from medialab_devstack.nats_server import NatsCluster, NatsServer
from medialab_runtime.nats_conn import server_urls
from medialab_runtime.provisioning import LayoutConfig, ensure_layout

WINDOW = 64
RUNS = 3
RUN_SECONDS = 3.0
FLUX = default_catalog().by_key("flux")


async def _publishes_per_s(url: str, replicas: int) -> float:
    nc = await nats.connect(servers=server_urls(url))
    js = nc.jetstream()
    try:
        await ensure_layout(js, LayoutConfig(replicas=replicas))
        job = FLUX.job(Mode.create, 1, 1, prompt="bench", size=ImageSize(width=64, height=64))
        payload = job.model_dump_json().encode()
        done = 0
        deadline = time.monotonic() + RUN_SECONDS

        async def publisher(lane: int) -> None:
            nonlocal done
            n = 0
            while time.monotonic() < deadline:
                # Distinct ids: the stream's dedup window would otherwise drop the repeats.
                await js.publish(job.subject, payload, headers={"Nats-Msg-Id": f"bench-{lane}-{n}"})
                n += 1
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(publisher(lane) for lane in range(WINDOW)))
        rate = done / (time.monotonic() - started)
        await js.purge_stream("JOBS")
        return rate
    finally:
        await nc.close()


def _measure(url: str, replicas: int, runs: int) -> float:
    return statistics.median(asyncio.run(_publishes_per_s(url, replicas)) for _ in range(runs))


def run(quick: bool = False) -> dict[str, float]:
    runs = 1 if quick else RUNS
    root = Path(tempfile.mkdtemp(prefix="medialab-bench-js-"))
    single = NatsServer(root / "single")
    cluster = NatsCluster(root / "cluster")
    try:
        single.start()
        one = _measure(single.url, 1, runs)
        single.stop()
        cluster.start()
        three = _measure(cluster.url, 3, runs)
    finally:
        single.stop()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {"jobs_publish_per_s_r1": round(one), "jobs_publish_per_s_r3": round(three)}


if __name__ == "__main__":
    print(run())
