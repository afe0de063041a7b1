"""One status message per job: sent when the job starts, edited on progress, removed or finalised at the end.
It carries «❌ Отменить» until then (``handlers.cancel_job``).

The message's id lives in KV (``status.<job_id>``), so whichever replica gets an event can edit it.
The job is published before its status is sent, so a fast job's result can be delivered first: then
no status is sent, or the one that crossed the result is taken back.
"""

from __future__ import annotations

import logging
import time

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from medialab_contracts.events import JobProgress
from medialab_contracts.jobs import JobRequest

from gateway_bot import keyboards, texts
from gateway_bot.storage.records import StatusRecord, StatusRecords

log = logging.getLogger(__name__)


class ProgressBoard:
    def __init__(self, records: StatusRecords, private_interval_s: float, group_interval_s: float) -> None:
        self._records = records
        self._private_interval_s = private_interval_s
        self._group_interval_s = group_interval_s

    async def open(self, bot: Bot, job: JobRequest, note: str | None) -> None:
        if await self._records.closed(job.job_id):
            return  # the job ended first: its result or failure is out already
        text = texts.job_status(job.mode, job.price, job.job_id, note=note)
        message = await bot.send_message(job.chat_id, text, reply_markup=keyboards.job_status(job.job_id))
        record = StatusRecord(
            chat_id=job.chat_id,
            message_id=message.message_id,
            mode=job.mode,
            price=job.price,
            note=note,
            last_edit=time.time(),
        )
        if not await self._records.create(job.job_id, record):
            log.info("status of %s crossed its result; taking it back", job.job_id)
            await self._delete(bot, job.job_id, record)

    async def on_progress(self, bot: Bot, event: JobProgress) -> None:
        interval = self._group_interval_s if event.chat_id < 0 else self._private_interval_s
        record = await self._records.take_edit_slot(event.job_id, interval)
        if record is None:
            return
        text = texts.job_status(
            record.mode,
            record.price,
            event.job_id,
            stage=event.stage,
            queue_position=event.queue_position,
            eta_s=event.eta_s,
            elapsed_s=event.elapsed_s,
            note=record.note,
        )
        try:
            await bot.edit_message_text(
                text=text,
                chat_id=record.chat_id,
                message_id=record.message_id,
                reply_markup=keyboards.job_status(event.job_id),  # an edit without it drops the button
            )
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            log.info("status of %s not edited: %s", event.job_id, error.message)

    async def remove(self, bot: Bot, job_id: str) -> None:
        record = await self._records.finish(job_id)
        if record is not None:
            await self._delete(bot, job_id, record)

    async def _delete(self, bot: Bot, job_id: str, record: StatusRecord) -> None:
        try:
            await bot.delete_message(chat_id=record.chat_id, message_id=record.message_id)
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            log.info("status of %s not removed: %s", job_id, error.message)

    async def finalise(self, bot: Bot, job_id: str, text: str) -> bool:
        """Turn the status message into ``text``; False when there is none to turn."""
        record = await self._records.finish(job_id)
        if record is None:
            return False
        try:
            await bot.edit_message_text(text=text, chat_id=record.chat_id, message_id=record.message_id)
        except TelegramBadRequest as error:
            log.info("status of %s not finalised: %s", job_id, error.message)
            return False
        return True
