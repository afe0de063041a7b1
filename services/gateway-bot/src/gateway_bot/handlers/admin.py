"""/add_balance <amount>, /add_balance <user_id> <amount> and /stats: admins only (ADMIN_IDS; billing
checks its own list too)."""

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, User

from gateway_bot import texts
from gateway_bot.clients.billing import BillingClient
from gateway_bot.filters import IsAdmin
from gateway_bot.parsing import parse_add_balance

router = Router(name="admin")


@router.message(Command("add_balance"), IsAdmin())
async def add_balance(
    message: Message, command: CommandObject, event_from_user: User, billing: BillingClient
) -> None:
    args = parse_add_balance(command.args)
    target = args.target_user_id or event_from_user.id
    # One id per command message: a redelivered update tops up once. The fixed prefix keeps it within
    # billing's 8..64 characters for any chat and message id (chat 7, message 1 included).
    request_id = f"tg-topup-{message.chat.id}-{message.message_id}"
    reply = await billing.topup(request_id, event_from_user.id, target, args.amount)
    await message.answer(texts.topup_done(reply))


@router.message(Command("stats"), IsAdmin())
async def stats(message: Message, event_from_user: User, billing: BillingClient) -> None:
    await message.answer(texts.stats(await billing.stats(event_from_user.id)))


@router.message(Command("add_balance", "stats"))
async def admin_only(message: Message) -> None:
    await message.answer(texts.NOT_ADMIN)
