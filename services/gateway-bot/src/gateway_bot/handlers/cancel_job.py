"""«❌ Отменить» under a job's status message: its owner stops the job.

The gateway checks the presser owns the job (its stored order names the user), billing checks it
again and decides by the job's state in ``jobstate``: not started by a runner → released at once,
never run (the status says so now); at the provider → its runner cancels it there, and the job's
final event says how it ended (released if the provider stopped it, otherwise charged and delivered).
"""

from aiogram import Bot, Router
from aiogram.types import CallbackQuery
from medialab_contracts.billing import CancelOutcome
from medialab_contracts.errors import UnknownJob

from gateway_bot import texts
from gateway_bot.callbacks import CancelJobCb
from gateway_bot.clients.billing import BillingClient
from gateway_bot.delivery.progress import ProgressBoard
from gateway_bot.storage.records import OrderRecords

router = Router(name="cancel_job")


@router.callback_query(CancelJobCb.filter())
async def cancel_job(
    query: CallbackQuery,
    callback_data: CancelJobCb,
    orders: OrderRecords,
    billing: BillingClient,
    progress: ProgressBoard,
    bot: Bot,
) -> None:
    job_id = callback_data.job
    order = await orders.load(job_id)
    if order is None or order.get("user_id") != query.from_user.id:
        await query.answer(texts.FOREIGN_BUTTON)
        return
    try:
        reply = await billing.cancel(job_id, query.from_user.id)
    except UnknownJob:  # billing does not know it as this user's job
        await query.answer(texts.FOREIGN_BUTTON)
        return
    if reply.outcome is CancelOutcome.released:
        await query.answer()
        await progress.finalise(bot, job_id, texts.job_cancelled(reply.operation.mode, job_id))
    elif reply.outcome is CancelOutcome.requested:
        await query.answer(texts.JOB_CANCEL_REQUESTED, show_alert=True)
    else:
        await query.answer(texts.JOB_CANCEL_TOO_LATE)
