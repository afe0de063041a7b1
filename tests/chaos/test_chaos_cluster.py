"""Nodes of a three-node NATS cluster lost under a steady stream of jobs: with three replicas nothing goes.

The whole stack (``ChaosStack`` with ``nats_nodes=3``: the launcher's three nats-server nodes on loopback,
every service given the three URLs and ``NATS_REPLICAS=3``) takes jobs from several users while
(a) the node leading the JOBS stream is SIGKILLed, (b) then the node leading the FSM bucket, with users
half-way through a conversation, (c) every node is restarted in turn. Each ends with ``Oracle.verify``
(every job one final event, charged once or released, the ledger consistent, every user told), and the
fal account never has more jobs in flight than its limit while leadership moves.

The last scenario is the counter-proof: a stream with the JOBS config but one replica, on the same
cluster, is gone when its node is lost with its disk, while its three-replica twin is whole.

Figures (jobs, time to a new leader, redeliveries) are printed with ``-s`` and recorded in
docs/RELIABILITY.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest
from medialab_contracts import subjects
from medialab_contracts.jobs import JobRequest
from medialab_devstack.nats_server import NatsCluster, NatsServer
from medialab_runtime.kv_keys import keys_matching
from medialab_runtime.placement import PlacementReport
from medialab_runtime.provisioning import LayoutConfig, layout_streams, stream_configs
from medialab_testkit.chaos import (
    EXTENDED_FLUX,
    JOB_ID,
    Bus,
    ChaosStack,
    Oracle,
    accepted,
    flux_job,
    launch,
    price_shown,
    text_of,
)
from medialab_testkit.waiting import eventually
from nats.js import JetStreamContext
from nats.js.errors import NoStreamResponseError

pytestmark = pytest.mark.chaos

T = TypeVar("T")

FAL_LIMIT = 10  # CHAOS_ENV's FAL_CONCURRENCY_PER_ACCOUNT
USERS = 4
RATE_PER_S = 6.0
# The emulator takes 2 s per picture: at 6 jobs/s the runner wants 12 in flight, above the limit,
# so slots are contended the whole time leadership moves.
RUN_SECONDS = 2.0


@pytest.fixture(scope="module")
def cluster_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosStack]:
    root = Path(tempfile.mkdtemp(prefix="medialab-chaos-cluster-"))
    # Production's slot lease (30 s), longer than an election: see ChaosStack.
    stack = ChaosStack(root, nats_nodes=3, slot_lease_s=30)
    stack.start()
    yield stack
    stack.stop()
    shutil.copytree(stack.stack.log_dir, tmp_path_factory.mktemp("chaos-cluster-logs"), dirs_exist_ok=True)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def stack(cluster_stack: ChaosStack) -> ChaosStack:
    """This module's stack (the cluster one) in place of the session's single-node stack."""
    await cluster_stack.heal()
    return cluster_stack


def cluster_of(stack: ChaosStack) -> NatsCluster:
    assert isinstance(stack.stack.nats, NatsCluster)
    return stack.stack.nats


async def leader_of(js: JetStreamContext, stream: str) -> str:
    info = await js.stream_info(stream)
    assert info.cluster is not None and info.cluster.leader, f"{stream} has no leader"
    return info.cluster.leader


async def wait_new_leader(js: JetStreamContext, stream: str, old: str, timeout: float = 30) -> str:
    async def elected() -> bool:
        try:
            return await asyncio.wait_for(leader_of(js, stream), 2) != old
        except Exception:  # no leader yet: the election is under way
            return False

    await eventually(elected, timeout, f"{stream}: a leader other than {old}")
    return await answered(lambda: leader_of(js, stream))


async def wait_all_led(js: JetStreamContext, timeout: float = 30) -> None:
    """Every stream of the layout has a leader again: the elections a lost node caused are over."""
    report = PlacementReport(js, "chaos", layout_streams())

    async def led() -> bool:
        return all(p.leader for p in (await report.refresh()).values())

    await eventually(led, timeout, "every stream led again")


async def answered(ask: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
    """The answer to a request this test's own connection may have to repeat: its node may be the
    one just killed, and the client is moving to another."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await asyncio.wait_for(ask(), 3)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def fsm_records(js: JetStreamContext) -> dict[str, bytes]:
    """Every conversation record of the FSM bucket, listed by its stream (``keys_matching``).

    Not ``KeyValue.keys()``: on the cluster in CI it once answered "no keys" with three conversations
    in the bucket, its watcher's consumer-info snapshot taken before any key reached it.
    """
    fsm = await js.key_value(subjects.FSM_BUCKET)
    records = {}
    for key in await keys_matching(fsm, ">"):
        value = (await fsm.get(key)).value
        assert value is not None, key
        records[key] = value
    return records


async def publish_to_new_stream(js: JetStreamContext, subject: str, payload: bytes) -> None:
    """Publish to a stream just created on the cluster: until the node this client is on has heard of
    the stream's subjects, a publish finds no responders (and so stored nothing; only that is retried,
    a timeout could have stored it)."""

    async def stored() -> bool:
        try:
            await js.publish(subject, payload)
        except NoStreamResponseError:
            return False
        return True

    await eventually(stored, 10, f"{subject} stored")


async def wait_all_current(js: JetStreamContext, timeout: float = 60) -> None:
    """Every stream of the layout has its leader and three current copies (a node back has caught up)."""
    report = PlacementReport(js, "chaos", layout_streams())

    async def placed() -> bool:
        return all(p.leader and p.current == 3 for p in (await report.refresh()).values())

    await eventually(placed, timeout, "every stream on three current copies")


@dataclasses.dataclass
class Traffic:
    """A steady stream of jobs from several users, as the gateway sends them (reserve, then publish),
    and the fal account's in-flight peak and slot count sampled while it runs."""

    client: Bus
    user_ids: list[int]
    tag: str
    jobs: list[JobRequest] = dataclasses.field(default_factory=list)
    published_at: list[float] = dataclasses.field(default_factory=list)
    max_slots: int = 0
    redeliveries_before: float = 0.0

    async def send(self, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            job = flux_job(self.user_ids[n % len(self.user_ids)], f"{self.tag}-{n}", deadline_s=120)
            await reserve_until_served(self.client, job)
            await self.client.publish(job, timeout=60)
            self.jobs.append(job)
            self.published_at.append(time.monotonic())
            n += 1
            await asyncio.sleep(1 / RATE_PER_S)

    async def watch_slots(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                self.max_slots = max(self.max_slots, await self.client.slots_held("fal"))
            except Exception:  # a probe during an election may not answer; the next one will
                pass
            await asyncio.sleep(0.2)

    def sent_after(self, moment: float) -> int:
        return sum(1 for at in self.published_at if at > moment)

    async def under_way(self, jobs: int = 6) -> None:
        async def sent() -> bool:
            return len(self.jobs) >= jobs

        await eventually(sent, 60, "traffic under way")


async def redeliveries(stack: ChaosStack) -> float:
    """Job messages fal-runner got more than once: lost acks of a dead node, and jobs handed back while
    the account's slots were all taken."""
    return await stack.metric("fal-runner", "medialab_job_redeliveries_total")


async def reserve_until_served(client: Bus, job: JobRequest) -> None:
    """billing.reserve is idempotent by job id: retried while billing's node is being replaced."""
    for _ in range(150):
        try:
            await client.reserve(job)
            return
        except Exception:
            await asyncio.sleep(0.2)
    raise AssertionError(f"billing never reserved {job.job_id}")


@asynccontextmanager
async def steady_traffic(stack: ChaosStack, client: Bus, oracle: Oracle, tag: str) -> AsyncIterator[Traffic]:
    async with stack.fal() as fal:
        await fal.set_latency(run_seconds=RUN_SECONDS)
        await fal.reset_concurrency()
    users = [await oracle.new_user() for _ in range(USERS)]
    traffic = Traffic(client, [u.user_id for u in users], tag)
    traffic.redeliveries_before = await redeliveries(stack)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(traffic.send(stop)), asyncio.create_task(traffic.watch_slots(stop))]
    try:
        yield traffic
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 90)


async def flowing(traffic: Traffic, after: float, jobs: int = 6) -> None:
    """Wait until ``jobs`` more were sent after ``after``: reserve and publish work again."""

    async def sent() -> bool:
        return traffic.sent_after(after) >= jobs

    await eventually(sent, 60, f"{jobs} jobs sent after the fault")


async def check_outcome(
    stack: ChaosStack, client: Bus, oracle: Oracle, traffic: Traffic, more_jobs: list[str] | None = None
) -> str:
    """The oracle over every job of the scenario, and the fal account never above its limit."""
    verdict = await oracle.verify([job.job_id for job in traffic.jobs] + (more_jobs or []), timeout=120)
    await verdict.assert_all_succeeded(client)
    async with stack.fal() as fal:
        peak = max((c.max_in_flight for c in (await fal.stats()).concurrency.values()), default=0)
    assert peak <= FAL_LIMIT, f"fal had {peak} jobs in flight, limit {FAL_LIMIT}"
    assert traffic.max_slots <= FAL_LIMIT, f"{traffic.max_slots} fal slots held, limit {FAL_LIMIT}"
    redelivered = await redeliveries(stack) - traffic.redeliveries_before
    return f"{len(traffic.jobs)} jobs, fal peak {peak}/{FAL_LIMIT}, {redelivered:.0f} redelivered"


async def test_jobs_leader_killed_under_load_loses_nothing(
    stack: ChaosStack, client: Bus, oracle: Oracle
) -> None:
    js = client.nc.jetstream()
    cluster = cluster_of(stack)
    await wait_all_current(js)
    async with steady_traffic(stack, client, oracle, "jobsleader") as traffic:
        await traffic.under_way(8)
        leader = await leader_of(js, subjects.JOBS_STREAM)
        killed_at = time.monotonic()
        cluster.node(leader).kill()
        new_leader = await wait_new_leader(js, subjects.JOBS_STREAM, leader)
        elected_s = time.monotonic() - killed_at
        await flowing(traffic, killed_at)
        resumed_s = time.monotonic() - killed_at
        await asyncio.to_thread(cluster.start)  # the node comes back and catches up
    await wait_all_current(js)
    figures = await check_outcome(stack, client, oracle, traffic)
    print(
        f"\n[cluster] JOBS leader {leader} killed: new leader {new_leader} seen after {elected_s:.1f}s, "
        f"6 jobs through after {resumed_s:.1f}s; {figures}"
    )


async def test_fsm_leader_killed_mid_conversation_keeps_every_conversation(
    stack: ChaosStack, client: Bus, oracle: Oracle
) -> None:
    js = client.nc.jetstream()
    cluster = cluster_of(stack)
    fsm_stream = f"KV_{subjects.FSM_BUCKET}"
    await wait_all_current(js)
    async with steady_traffic(stack, client, oracle, "fsmleader") as traffic:
        # Users half-way through a conversation: the price is shown, «✅ Запустить» not pressed yet;
        # what they ordered lives only in the FSM bucket.
        talkers = [await oracle.new_user() for _ in range(3)]
        offers = []
        for user in talkers:
            await user.send_text(EXTENDED_FLUX.format(f"chaos fsm {user.user_id}"))
            offers.append(await price_shown(user))
        records_before = await fsm_records(js)
        # aiogram's key: fsm.<bot>.<chat>.<user>, and a private chat's id is its user's.
        ends = tuple(f".{u.user_id}.{u.user_id}" for u in talkers)
        conversations = {key for key in records_before if key.endswith(ends)}
        assert len(conversations) == len(talkers), sorted(records_before)
        leader = await leader_of(js, fsm_stream)
        killed_at = time.monotonic()
        cluster.node(leader).kill()
        new_leader = await wait_new_leader(js, fsm_stream, leader)
        elected_s = time.monotonic() - killed_at
        # The users come back once the elections are over (a press during one times out like any
        # NATS request in those seconds: docs/RELIABILITY.md).
        await wait_all_led(js)
        records_after = await answered(lambda: fsm_records(js))
        lost = records_before.keys() - records_after.keys()
        lost |= {key for key in conversations if records_after.get(key) != records_before[key]}
        assert not lost, f"conversation state lost with the FSM leader: {sorted(lost)}"
        conversation_jobs = []
        for user, offer in zip(talkers, offers, strict=True):
            await launch(user, offer)
            answer = await user.wait_for_message(predicate=accepted, after=offer.message_id, timeout=60)
            found = JOB_ID.search(text_of(answer))
            assert found, text_of(answer)
            conversation_jobs.append(found.group(1))
        await flowing(traffic, killed_at)
        await asyncio.to_thread(cluster.start)
    await wait_all_current(js)
    figures = await check_outcome(stack, client, oracle, traffic, conversation_jobs)
    print(
        f"\n[cluster] FSM leader {leader} killed: new leader {new_leader} seen after {elected_s:.1f}s, "
        f"{len(talkers)} conversations finished after it; {figures}"
    )


async def test_rolling_restart_of_every_node_loses_nothing(
    stack: ChaosStack, client: Bus, oracle: Oracle
) -> None:
    js = client.nc.jetstream()
    cluster = cluster_of(stack)
    await wait_all_current(js)
    took: list[str] = []
    async with steady_traffic(stack, client, oracle, "rolling") as traffic:
        await traffic.under_way(6)
        began = time.monotonic()
        for node in cluster.nodes:
            started = time.monotonic()
            await asyncio.to_thread(node.restart)
            await asyncio.to_thread(cluster.wait_ready)
            await wait_all_current(js)
            took.append(f"{node.name} {time.monotonic() - started:.1f}s")
        await flowing(traffic, began, jobs=6)
    figures = await check_outcome(stack, client, oracle, traffic)
    print(f"\n[cluster] rolling restart ({', '.join(took)} each until all copies current); {figures}")


async def test_one_replica_is_lost_with_its_node_three_are_not(stack: ChaosStack, client: Bus) -> None:
    """The counter-proof of the scenarios above: the JOBS config at one replica and at three, the same
    jobs in both, then the one-replica stream's node dies and comes back with an empty disk (a machine
    replaced): the single copy is gone, the replicated stream is whole."""
    js = client.nc.jetstream()
    cluster = cluster_of(stack)
    jobs_config = stream_configs(LayoutConfig())[0]
    twins = {
        replicas: dataclasses.replace(
            jobs_config, name=f"JOBS_R{replicas}", subjects=[f"r{replicas}demo.>"], num_replicas=replicas
        )
        for replicas in (1, 3)
    }
    for config in twins.values():
        await js.add_stream(config)
    sent = 20
    for n in range(sent):
        job = flux_job(1, f"r1demo-{n}")
        for replicas in twins:
            await publish_to_new_stream(js, f"r{replicas}demo.{n}", job.model_dump_json().encode())
    holder = await leader_of(js, "JOBS_R1")
    node: NatsServer = cluster.node(holder)
    try:
        node.kill()
        # While the node is down the one-replica stream does not answer at all; its twin does.
        assert (await answered(lambda: js.stream_info("JOBS_R3"))).state.messages == sent
        with pytest.raises(Exception):  # noqa: B017 - timeout or "stream not available", either way gone
            await asyncio.wait_for(js.stream_info("JOBS_R1"), 3)
        shutil.rmtree(node.store_dir / "jetstream")
        await asyncio.to_thread(cluster.start)

        async def r3_whole() -> bool:
            info = await answered(lambda: js.stream_info("JOBS_R3"))
            return (
                info.state.messages == sent
                and info.cluster is not None
                and len(info.cluster.replicas or []) == 2
            )

        await eventually(r3_whole, 30, "the three-replica stream whole, its copy rebuilt on the new disk")
        try:
            kept = (await asyncio.wait_for(js.stream_info("JOBS_R1"), 5)).state.messages
        except Exception:  # the stream itself is gone with the disk
            kept = 0
        assert kept < sent, "one replica survived the loss of its node's disk"
        print(
            f"\n[cluster] node {holder} lost with its disk: R1 kept {kept}/{sent} jobs, R3 kept {sent}/{sent}"
        )
    finally:
        for name in ("JOBS_R1", "JOBS_R3"):
            try:
                await asyncio.wait_for(js.delete_stream(name), 5)
            except Exception:  # the R1 stream may be unrecoverable; a fresh cluster per session anyway
                pass
