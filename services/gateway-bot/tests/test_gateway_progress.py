"""The status message of a job published before its status is sent: a fast result may come first.

Real NATS KV for the records; the Telegram side is a session that records what the bot asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from aiogram import Bot
from aiogram.methods import DeleteMessage, EditMessageText, SendMessage
from gateway_bot.delivery.progress import ProgressBoard
from gateway_bot.storage.records import StatusRecords, open_gateway_bucket
from medialab_contracts.catalog import default_catalog
from medialab_contracts.events import JobProgress
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


async def test_queue_place_and_estimate_edit_the_status_in_place_at_most_once_per_interval(
    records: StatusRecords, telegram: RecordingSession, bot: Bot
) -> None:
    board = ProgressBoard(records, 0.3, 6.0)
    started = job()
    await board.open(bot, started, None)

    def queued(ahead: int, eta_s: float | None) -> JobProgress:
        return JobProgress(
            job_id=started.job_id,
            user_id=CHAT_ID,
            chat_id=CHAT_ID,
            mode=started.mode,
            stage="queued",
            queue_position=ahead,
            eta_s=eta_s,
            elapsed_s=4.2,
        )

    await board.on_progress(bot, queued(3, 50.0))  # just sent: too soon for an edit
    await asyncio.sleep(0.35)
    for ahead in (2, 1, 0):  # a burst: the first is shown, the rest fall inside the interval
        await board.on_progress(bot, queued(ahead, 38.0))
    assert telegram.kinds() == ["SendMessage", "EditMessageText"]
    edit = telegram.requests[1]
    assert isinstance(edit, EditMessageText)
    assert (edit.chat_id, edit.message_id) == (CHAT_ID, 1)  # the status message itself
    assert "Статус: в очереди: 3-й · примерно 40 с · прошло 4 с" in edit.text
    assert edit.reply_markup is not None  # «❌ Отменить» stays under it
    await asyncio.sleep(0.35)
    await board.on_progress(bot, queued(0, None))  # no estimate (no recent jobs): the place alone
    assert "Статус: в очереди: 1-й · прошло 4 с" in (telegram.edits()[-1] or "")
