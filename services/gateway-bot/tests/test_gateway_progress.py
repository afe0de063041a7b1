"""The status message of a job published before its status is sent: a fast result may come first.

Real NATS KV for the records; the Telegram side is a session that records what the bot asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from aiogram import Bot
from aiogram.methods import DeleteMessage, SendMessage
from gateway_bot.delivery.progress import ProgressBoard
from gateway_bot.storage.records import StatusRecords, open_gateway_bucket
from medialab_contracts.catalog import default_catalog
from medialab_contracts.jobs import JobRequest
from medialab_contracts.modes import Mode
from medialab_runtime.provisioning import ensure_layout
from medialab_testkit.telegram import RecordingSession

CHAT_ID = 777


@pytest.fixture
async def records(nats_url: str) -> AsyncIterator[StatusRecords]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_layout(js)
    yield StatusRecords(await open_gateway_bucket(js, 600.0))
    await nc.close()


@pytest.fixture
def telegram() -> RecordingSession:
    return RecordingSession()


@pytest.fixture
def bot(telegram: RecordingSession) -> Bot:
    return Bot("123:ABC", session=telegram)


def job() -> JobRequest:
    (model,) = default_catalog().for_mode(Mode.text)
    return model.job(Mode.text, CHAT_ID, CHAT_ID, overlay_text="hi")


async def test_status_shown_then_removed_with_the_result(
    records: StatusRecords, telegram: RecordingSession, bot: Bot
) -> None:
    board = ProgressBoard(records, 2.0, 6.0)
    started = job()
    await board.open(bot, started, None)
    await board.remove(bot, started.job_id)
    await board.remove(bot, started.job_id)  # a redelivered result deletes nothing twice
    assert telegram.kinds() == ["SendMessage", "DeleteMessage"]
    (status,) = [m for m in telegram.requests if isinstance(m, SendMessage)]
    assert "задача принята" in status.text


async def test_no_status_for_a_job_whose_result_is_out(
    records: StatusRecords, telegram: RecordingSession, bot: Bot
) -> None:
    board = ProgressBoard(records, 2.0, 6.0)
    started = job()
    await board.remove(bot, started.job_id)  # the result was delivered before the status was opened
    await board.open(bot, started, None)
    assert telegram.requests == []


async def test_a_status_that_crossed_its_failure_is_taken_back(
    records: StatusRecords, telegram: RecordingSession, bot: Bot
) -> None:
    board = ProgressBoard(records, 2.0, 6.0)
    started = job()
    finalised: list[bool] = []

    async def failure_delivered_meanwhile() -> None:
        telegram.on_send = None
        finalised.append(await board.finalise(bot, started.job_id, "failed"))

    telegram.on_send = failure_delivered_meanwhile
    await board.open(bot, started, None)
    assert finalised == [False]  # there was no status to turn into the failure: it was sent on its own
    (sent,) = [m for m in telegram.requests if isinstance(m, SendMessage)]
    (deleted,) = [m for m in telegram.requests if isinstance(m, DeleteMessage)]
    assert deleted.message_id == telegram.requests.index(sent) + 1
    assert not await board.finalise(bot, started.job_id, "failed")
