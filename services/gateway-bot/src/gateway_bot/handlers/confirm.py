"""«✅ Запустить» under a price: the waiting order starts now (its «❌ Отмена» is the common cancel)."""

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery
from medialab_contracts.catalog import Catalog

from gateway_bot import texts
from gateway_bot.callbacks import NavAction, NavCb
from gateway_bot.filters import SameFlow
from gateway_bot.flows.confirm import take
from gateway_bot.flows.launcher import Launcher
from gateway_bot.flows.steps import show_step
from gateway_bot.states import ConfirmFlow
from gateway_bot.storage.records import LaunchClaims

router = Router(name="confirm")


@router.callback_query(ConfirmFlow.launch, NavCb.filter(F.action == NavAction.launch), SameFlow())
async def launch(
    query: CallbackQuery,
    callback_data: NavCb,
    state: FSMContext,
    catalog: Catalog,
    launcher: Launcher,
    launch_claims: LaunchClaims,
    bot: Bot,
) -> None:
    order = await take(state, catalog, launch_claims, query.from_user.id, callback_data.flow)
    if order is None:
        await query.answer(texts.STALE_BUTTON)
        return
    await query.answer()
    await show_step(bot, query, texts.order_price(order.mode, order.model, order.price), None)
    await launcher.launch(bot, order)
