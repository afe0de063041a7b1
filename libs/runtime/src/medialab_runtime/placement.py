"""Where the copies of a service's streams are: leader, followers and whether they are current.

Reported in the details of /readyz and as gauges (``medialab_jetstream_replicas`` configured,
``medialab_jetstream_replicas_current`` up to date). Placement never makes a service unready: with one
node of three gone every stream still has a leader and a quorum, and the service works on; the gauge
(alert: current < configured) tells the operator a copy is missing.
"""

from __future__ import annotations

import asyncio
import logging

from nats.js import JetStreamContext
from pydantic import BaseModel

from medialab_runtime.metrics import STREAM_REPLICAS, STREAM_REPLICAS_CURRENT

log = logging.getLogger(__name__)

# A stream without a leader (an election under way) does not answer; the report says so instead of
# holding a readiness probe.
_INFO_TIMEOUT_S = 2.0


class Placement(BaseModel):
    stream: str
    replicas: int = 0  # configured
    leader: str | None = None
    current: int = 0  # copies up to date: the leader and every current follower
    lagging: list[str] = []  # followers offline or behind
    error: str | None = None


async def stream_placement(js: JetStreamContext, stream: str) -> Placement:
    try:
        info = await asyncio.wait_for(js.stream_info(stream), _INFO_TIMEOUT_S)
    except Exception as error:  # no leader, no stream, no connection: all "not placed now"
        return Placement(stream=stream, error=type(error).__name__)
    replicas = info.config.num_replicas or 1
    cluster = info.cluster
    if cluster is None or (cluster.replicas is None and replicas == 1):
        # A single server, or an R1 stream: its one copy is the leader.
        leader = cluster.leader if cluster is not None else None
        return Placement(stream=stream, replicas=replicas, leader=leader, current=1)
    followers = cluster.replicas or []
    lagging = [peer.name or "?" for peer in followers if not peer.current or peer.offline]
    current = (1 if cluster.leader else 0) + len(followers) - len(lagging)
    return Placement(
        stream=stream, replicas=replicas, leader=cluster.leader, current=current, lagging=lagging
    )


class PlacementReport:
    """The placement of a fixed set of streams, refreshed on demand (a /readyz probe) or by ``run``."""

    def __init__(self, js: JetStreamContext, service: str, streams: list[str]) -> None:
        self._js = js
        self._service = service
        self._streams = streams

    async def refresh(self) -> dict[str, Placement]:
        placed = await asyncio.gather(*(stream_placement(self._js, name) for name in self._streams))
        for entry in placed:
            if entry.replicas:
                STREAM_REPLICAS.labels(self._service, entry.stream).set(entry.replicas)
            STREAM_REPLICAS_CURRENT.labels(self._service, entry.stream).set(entry.current)
        return {entry.stream: entry for entry in placed}

    async def details(self) -> dict[str, object]:
        return {name: entry.model_dump(exclude_none=True) for name, entry in (await self.refresh()).items()}

    async def run(self, every_s: float = 15.0) -> None:
        """Keep the gauges fresh between probes; a failed round leaves the last values."""
        while True:
            await self.refresh()
            await asyncio.sleep(every_s)
