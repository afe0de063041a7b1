"""/status <job_id>: the job's operation as billing records it (the user's own jobs only)."""

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, User
from medialab_contracts.catalog import Catalog

from gateway_bot import texts
from gateway_bot.clients.billing import BillingClient
from gateway_bot.parsing import parse_job_id

router = Router(name="status")


@router.message(Command("status"))
async def job_status(
    message: Message, command: CommandObject, event_from_user: User, billing: BillingClient, catalog: Catalog
) -> None:
    job_id = parse_job_id(command.args)
    op = await billing.operation(job_id, event_from_user.id)
    title = next((m.title for m in catalog.models if m.model_id == op.model_id), op.model_id)
    await message.answer(texts.operation_status(op, title))
