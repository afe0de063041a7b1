"""Only jobs billing reserved run: a job put on JOBS past billing reaches a runner and is never run.

Billing signs every job it queues (``JOB_SIGNING_KEY``, HMAC-SHA256 of the message's bytes) and the job
consumers run only jobs with a valid signature. Publish permissions already keep every service but
billing off ``jobs.>``; the signature covers what they cannot: billing's NATS password alone (leaked,
or an operator's admin tools publishing by hand) and a reserved job with its body changed.

The push-consumer route of nats-server issue #8274 is tried as well: text-render writes a job into
its KV bucket ``jobstate`` and has the bucket's stream deliver it onto ``jobs.fal.create``. With a
listener there, the server delivers it and JOBS stores it, under the subject it had in the bucket.

billing and fal-runner run as their own processes with one key (the dev launcher's ``sign_jobs``), a
real PostgreSQL, the fal emulator, and a nats-server with the production permissions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nats
import pytest
from medialab_contracts import subjects
from medialab_contracts.billing import BalanceView, EnsureUserRequest, ReserveReply, ReserveRequest
from medialab_contracts.catalog import default_catalog
from medialab_contracts.events import parse_job_event
from medialab_contracts.jobs import JobRequest
from medialab_contracts.modes import Mode
from medialab_contracts.signing import JOB_SIGNATURE_HEADER, sign_job
from medialab_devstack.launcher import Stack
from medialab_devstack.nats_server import NatsServer
from medialab_runtime.nats_conn import inbox_prefix
from medialab_runtime.rpc import call
from medialab_sandbox.fal import FalEmulator
from medialab_testkit.waiting import eventually
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client.parser import text_string_to_metric_families

FAL_KEY = "signed-jobs:secret-key-0123456789"
USER = 4343


@dataclass
class Running:
    stack: Stack
    fal: FalEmulator
    admin: Client
    gateway: Client
    events: dict[str, list[str]] = field(default_factory=dict)  # job id → kinds of its events

    async def on_event(self, msg: Msg) -> None:
        event = parse_job_event(msg.data)
        self.events.setdefault(event.job_id, []).append(event.kind)

    async def refused(self, reason: str) -> float:
        """fal-runner's ``medialab_jobs_refused_total`` for ``reason``, read from its /metrics."""
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"{self.stack.service('fal-runner').health_url}/metrics")).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "medialab_jobs_refused_total" and sample.labels.get("reason") == reason
        )


async def connect_as(server: NatsServer, user: str) -> Client:
    return await nats.connect(
        server.plain_url, user=user, password=server.passwords[user], inbox_prefix=inbox_prefix(user)
    )


@pytest.fixture
async def running(nats_server: NatsServer, database_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    async with FalEmulator([FAL_KEY]) as fal:
        stack = Stack(data_dir=tmp_path, env={"NATS_URL": nats_server.url, "DATABASE_URL": database_url})
        stack.sign_jobs()
        stack.use_fal(fal.base_url, f'["{FAL_KEY}"]')
        admin = gateway = None
        try:
            stack.launch("billing")
            stack.launch("fal-runner")
            # Waiting for readiness blocks; the emulator serves from this event loop.
            await asyncio.to_thread(stack.wait_ready)
            admin = await nats.connect(nats_server.url)
            # The gateway's credentials: the only user that may ask billing to reserve a job.
            gateway = await connect_as(nats_server, "gateway-bot")
            await call(
                gateway, subjects.BILLING_ENSURE_USER, EnsureUserRequest(user_id=USER), BalanceView, 10
            )
            running = Running(stack, fal, admin, gateway)
            await admin.subscribe(subjects.ALL_JOB_EVENTS_FILTER, cb=running.on_event)
            yield running
        finally:
            for client in (gateway, admin):
                if client is not None:
                    await client.close()
            await asyncio.to_thread(stack.stop)


def nano_banana_job(prompt: str) -> JobRequest:
    return default_catalog().by_key("nb").job(Mode.create, user_id=USER, chat_id=USER, prompt=prompt)


async def deputy_queues(server: NatsServer, job: JobRequest) -> None:
    """text-render's own rights only: a KV put and a push consumer on its bucket's stream."""
    nc = await connect_as(server, "text-render")
    try:
        js = nc.jetstream(timeout=5)
        kv = await js.key_value(subjects.JOB_STATE_BUCKET)
        await kv.put("forged", job.model_dump_json().encode())
        await js.add_consumer(
            f"KV_{subjects.JOB_STATE_BUCKET}",
            ConsumerConfig(
                deliver_subject=job.subject,
                deliver_policy=DeliverPolicy.LAST,
                ack_policy=AckPolicy.NONE,
                filter_subject=f"$KV.{subjects.JOB_STATE_BUCKET}.forged",
            ),
        )
    finally:
        await nc.close()


async def reserve_and_run(running: Running, prompt: str) -> JobRequest:
    """A job reserved through billing with the gateway's credentials: billing signs it, it runs."""
    paid = nano_banana_job(prompt)
    reply = await call(
        running.gateway, subjects.BILLING_RESERVE, ReserveRequest.for_job(paid), ReserveReply, 10
    )
    assert reply.operation.price == paid.price
    await eventually(
        lambda: "succeeded" in running.events.get(paid.job_id, []), timeout=30, what="the reserved job"
    )
    return paid


def provider_prompts(running: Running) -> list[str]:
    return [str(record.body.get("prompt")) for record in running.fal.submits()]


async def test_a_job_without_billings_signature_is_never_run(
    nats_server: NatsServer, running: Running
) -> None:
    key = running.stack.job_signing_key
    assert key is not None
    unsigned = nano_banana_job("queued with billing's NATS password alone")
    foreign = nano_banana_job("signed with another deployment's key")
    tampered = nano_banana_job("signed by billing, then changed")
    signed_body = tampered.model_dump_json().encode()
    forged_bodies = {
        unsigned.job_id: (unsigned.model_dump_json().encode(), None),
        foreign.job_id: (
            foreign.model_dump_json().encode(),
            sign_job(b"x" * 64, foreign.model_dump_json().encode()),
        ),
        tampered.job_id: (
            signed_body.replace(tampered.prompt.encode(), b"a much more expensive wish"),
            sign_job(key.encode(), signed_body),
        ),
    }
    billing_user = await connect_as(nats_server, "billing")
    try:
        js = billing_user.jetstream()
        for job in (unsigned, foreign, tampered):
            body, signature = forged_bodies[job.job_id]
            headers = {"Nats-Msg-Id": job.job_id}
            if signature is not None:
                headers[JOB_SIGNATURE_HEADER] = signature
            await js.publish(job.subject, body, headers=headers)
    finally:
        await billing_user.close()

    async def all_refused() -> bool:
        return await running.refused("unsigned") == 3

    await eventually(all_refused, timeout=20, what="fal-runner refusing the three jobs")
    assert (await running.admin.jetstream().stream_info(subjects.JOBS_STREAM)).state.messages == 0  # termed

    paid = await reserve_and_run(running, "a wish the user paid for")
    assert provider_prompts(running) == [paid.prompt]  # nothing else ever reached fal
    assert not {unsigned.job_id, foreign.job_id, tampered.job_id} & set(running.events)


async def test_a_push_consumer_delivering_onto_jobs_queues_nothing_a_runner_takes(
    nats_server: NatsServer, running: Running
) -> None:
    forged = nano_banana_job("a job nobody paid for")
    # An operator watching the queue (`nats sub jobs.fal.create`): the interest the server needs to
    # deliver to the push consumer.
    delivered = asyncio.Event()

    async def on_job(msg: Msg) -> None:
        if msg.data == forged.model_dump_json().encode():
            delivered.set()

    await running.admin.subscribe(forged.subject, cb=on_job)
    await running.admin.flush()
    await deputy_queues(nats_server, forged)
    await asyncio.wait_for(delivered.wait(), 10)  # the route is open: the server delivered it

    # JOBS stored it, but under the subject it had in the bucket (nats-server 2.10.26 and 2.15.1), which
    # no runner's consumer takes. Should a server store it under jobs.fal.create instead, the signature
    # check refuses it (the test above).
    js = running.admin.jetstream()
    info = await js.stream_info(subjects.JOBS_STREAM, subjects_filter=">")
    assert info.state.subjects == {f"$KV.{subjects.JOB_STATE_BUCKET}.forged": 1}

    paid = await reserve_and_run(running, "a wish the user paid for")
    assert provider_prompts(running) == [paid.prompt]
    assert forged.job_id not in running.events
    assert await running.refused("unsigned") == 0  # it never even reached fal-runner
