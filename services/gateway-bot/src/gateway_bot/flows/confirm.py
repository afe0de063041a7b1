"""Orders that start only on «✅ Запустить»: the price first, the job on the press.

The order waits as JSON in the FSM data (the KV storage every replica shares), so the press may reach
any replica; a claim on the flow id lets exactly one press take it. Nothing is reserved before that
press: the balance is only read, to refuse at once an order it cannot cover.
"""

from __future__ import annotations

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from medialab_contracts.catalog import Catalog
from medialab_contracts.errors import InsufficientFunds

from gateway_bot import keyboards, texts
from gateway_bot.clients.billing import BillingClient
from gateway_bot.flows.drafts import OrderDraft, StaleDraft, new_flow, read
from gateway_bot.flows.launcher import Order
from gateway_bot.flows.steps import begin
from gateway_bot.states import ConfirmFlow
from gateway_bot.storage.records import LaunchClaims


async def offer(bot: Bot, state: FSMContext, billing: BillingClient, order: Order) -> None:
    """Show the order's price with «✅ Запустить» / «❌ Отмена»; InsufficientFunds if it cannot fit."""
    price = order.price
    account = await billing.balance(order.user_id)
    if account.available < price:
        raise InsufficientFunds(available=account.available, price=price)
    flow = await begin(state, ConfirmFlow.launch, OrderDraft(flow=new_flow(), order=order))
    await bot.send_message(
        order.chat_id,
        texts.confirm_launch(order.mode, order.model, price),
        reply_markup=keyboards.confirm(flow),
    )


async def take(
    state: FSMContext, catalog: Catalog, claims: LaunchClaims, user_id: int, flow: str
) -> Order | None:
    """The flow's waiting order, for one press only; None if another press took it or it went stale."""
    if not await claims.first(user_id, flow):
        return None
    try:
        order = (await read(state, OrderDraft)).order
    except StaleDraft:
        return None  # written by a gateway version with another order shape
    finally:
        await state.clear()
    if catalog.get(order.model.key) != order.model:
        return None  # the price list changed after this price was shown
    return order
