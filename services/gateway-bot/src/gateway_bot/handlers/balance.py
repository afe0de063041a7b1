"""💰 Баланс, /balance and the paged /history (Moscow time)."""

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message, User
from medialab_contracts.catalog import Catalog

from gateway_bot import keyboards, texts
from gateway_bot.callbacks import HistoryCb
from gateway_bot.clients.billing import BillingClient
from gateway_bot.settings import GatewaySettings

router = Router(name="balance")


@router.message(Command("balance"))
@router.message(F.text.in_(texts.labels("BTN_BALANCE")))
async def show_balance(message: Message, event_from_user: User, billing: BillingClient) -> None:
    view = await billing.balance(event_from_user.id)
    await message.answer(texts.balance(view), reply_markup=keyboards.balance())


def _titles(catalog: Catalog) -> dict[str, str]:
    return {model.model_id: model.title for model in catalog.models}


@router.message(Command("history"))
async def show_history(
    message: Message,
    event_from_user: User,
    billing: BillingClient,
    catalog: Catalog,
    settings: GatewaySettings,
) -> None:
    page = await billing.history(event_from_user.id, 1, settings.history_page_size)
    await message.answer(
        texts.history_page(page, _titles(catalog)), reply_markup=keyboards.history(page.page, page.pages)
    )


@router.callback_query(HistoryCb.filter((F.page >= 1) & (F.page <= 100_000)))
async def turn_history_page(
    query: CallbackQuery,
    callback_data: HistoryCb,
    billing: BillingClient,
    catalog: Catalog,
    settings: GatewaySettings,
    bot: Bot,
) -> None:
    page = await billing.history(query.from_user.id, callback_data.page, settings.history_page_size)
    text = texts.history_page(page, _titles(catalog))
    markup = keyboards.history(page.page, page.pages)
    await query.answer()
    if query.message is None:
        await bot.send_message(query.from_user.id, text, reply_markup=markup)
        return
    await bot.edit_message_text(
        text=text, chat_id=query.message.chat.id, message_id=query.message.message_id, reply_markup=markup
    )
