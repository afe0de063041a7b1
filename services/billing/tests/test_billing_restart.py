"""Billing as a real process, SIGKILLed between reserve and settle: after a restart it settles once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import nats
import pytest
from medialab_contracts import subjects
from medialab_contracts.billing import BalanceRequest, BalanceView, EnsureUserRequest, ReserveReply
from medialab_contracts.errors import ServiceUnavailable, UnknownUser
from medialab_devstack.nats_server import service_credentials
from medialab_runtime.rpc import call
from medialab_testkit.billing import (
    ADMIN_ID,
    ledger_kinds,
    operation_row,
    publish_event,
    reserve_request,
    succeeded,
)
from medialab_testkit.waiting import eventually
from nats.aio.client import Client

pytestmark = pytest.mark.chaos


@contextmanager
def billing_process(nats_url: str, database_url: str, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        **service_credentials(nats_url, "billing"),
        "DATABASE_URL": database_url,
        "HTTP_PORT": "0",
        "ADMIN_IDS": str(ADMIN_ID),
        "LOG_FORMAT": "text",
        "SWEEPER_INTERVAL_S": "0.5",
    }
    with open(log_path, "ab") as log:
        command = [sys.executable, "-m", "billing"]
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def serving(client: Client) -> bool:
    """True once a billing process answers (an unknown user is an answer; silence is not)."""
    try:
        await call(client, subjects.BILLING_BALANCE, BalanceRequest(user_id=1), BalanceView, timeout=0.5)
    except UnknownUser:
        return True
    except ServiceUnavailable:
        return False
    return True


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[Client]:
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


async def test_sigkill_between_reserve_and_settle_settles_exactly_once(
    nats_url: str, database_url: str, client: Client, tmp_path: Path
) -> None:
    log_path = tmp_path / "billing.log"
    req = reserve_request(1, 800)
    with billing_process(nats_url, database_url, log_path) as first:
        await eventually(lambda: serving(client), timeout=30, what="billing start")
        await call(client, subjects.BILLING_ENSURE_USER, EnsureUserRequest(user_id=1), BalanceView)
        await call(client, subjects.BILLING_RESERVE, req, ReserveReply)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL

    # While billing is down the job finishes; the event waits on the stream (twice, as a redelivery would).
    js = client.jetstream()
    await publish_event(js, succeeded(req))
    await publish_event(js, succeeded(req), dedup=False)

    with billing_process(nats_url, database_url, log_path):

        async def charged() -> bool:
            row = await operation_row(database_url, req.job_id)
            return row is not None and row["status"] == "CHARGED"

        await eventually(charged, timeout=30, what=f"settle after restart (log: {log_path})")

        async def drained() -> bool:
            info = await js.consumer_info(subjects.EVENTS_STREAM, subjects.BILLING_SAGA_CONSUMER)
            return info.num_pending == 0 and info.num_ack_pending == 0

        await eventually(drained, timeout=15, what="saga drained")
        view = await call(client, subjects.BILLING_BALANCE, BalanceRequest(user_id=1), BalanceView)
        assert (view.balance, view.reserved) == (3000 - 800, 0)
        assert await ledger_kinds(database_url, req.job_id) == ["hold", "charge"]
