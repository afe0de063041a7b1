"""Buttons bound to a finished job: find its result and check that the presser owns it."""

from __future__ import annotations

from aiogram.types import CallbackQuery
from medialab_contracts.events import JobSucceeded
from medialab_contracts.media import MediaRef

from gateway_bot import texts
from gateway_bot.callbacks import ResultCb
from gateway_bot.clients.jobs import JobsClient


async def owned_result(
    query: CallbackQuery, callback_data: ResultCb, jobs: JobsClient
) -> JobSucceeded | None:
    """The job's success event if the presser owns it; otherwise answers the query and returns None."""
    event = await jobs.result(callback_data.job) if len(callback_data.job) == 32 else None
    if event is None:
        await query.answer(texts.RESULT_GONE)
        return None
    if event.user_id != query.from_user.id:
        await query.answer(texts.FOREIGN_BUTTON)
        return None
    return event


async def owned_output(query: CallbackQuery, callback_data: ResultCb, jobs: JobsClient) -> MediaRef | None:
    event = await owned_result(query, callback_data, jobs)
    if event is None:
        return None
    if not 0 <= callback_data.n < len(event.outputs):
        await query.answer(texts.RESULT_GONE)
        return None
    return MediaRef.model_validate(event.outputs[callback_data.n].model_dump())
