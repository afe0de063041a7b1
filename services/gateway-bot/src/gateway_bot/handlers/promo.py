"""/promo CODE and /invite for users, /promo_new CODE AMOUNT [USES] [UNTIL] for admins (billing checks
ADMIN_IDS too)."""

from datetime import UTC, datetime

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, User
from medialab_contracts.promo import PromoCreateRequest, PromoOutcome

from gateway_bot import texts
from gateway_bot.clients.billing import BillingClient
from gateway_bot.filters import IsAdmin
from gateway_bot.parsing import parse_promo_new
from gateway_bot.settings import GatewaySettings

router = Router(name="promo")

_REFUSALS = {  # catalog names: read in the user's language when answering
    PromoOutcome.unknown: "PROMO_UNKNOWN",
    PromoOutcome.expired: "PROMO_EXPIRED",
    PromoOutcome.used_up: "PROMO_USED_UP",
    PromoOutcome.already_used: "PROMO_ALREADY_USED",
}


@router.message(Command("promo"))
async def redeem(
    message: Message, command: CommandObject, event_from_user: User, billing: BillingClient
) -> None:
    code = (command.args or "").strip()
    if not code:
        await message.answer(texts.PROMO_USAGE)
        return
    reply = await billing.promo_redeem(event_from_user.id, code)
    if reply.outcome == PromoOutcome.credited and reply.balance is not None:
        await message.answer(texts.promo_credited(reply.amount, reply.balance.available))
    else:
        await message.answer(texts.text(_REFUSALS[reply.outcome]))


@router.message(Command("invite"))
async def invite(message: Message, event_from_user: User, settings: GatewaySettings, bot: Bot) -> None:
    if settings.referral_bonus_rub == 0:
        await message.answer(texts.INVITE_OFF)
        return
    me = await bot.me()  # aiogram caches it
    link = f"https://t.me/{me.username}?start=ref_{event_from_user.id}"
    await message.answer(texts.invite(link, settings.referral_bonus_rub))


@router.message(Command("promo_new"), IsAdmin())
async def create(
    message: Message, command: CommandObject, event_from_user: User, billing: BillingClient
) -> None:
    args = parse_promo_new(command.args, datetime.now(UTC))
    request = PromoCreateRequest(
        admin_id=event_from_user.id,
        code=args.code,
        amount=args.amount,
        max_uses=args.max_uses,
        expires_at=args.expires_at,
    )
    await message.answer(texts.promo_created(await billing.promo_create(request)))


@router.message(Command("promo_new"))
async def create_refused(message: Message) -> None:
    await message.answer(texts.NOT_ADMIN)
