"""«✏️ Переформулировать» under a job a safety filter refused: once per job, the same order with a new prompt.

The refused job cost nothing (released); the rephrased one is a new job, free: its reservation names
the refused job, and billing holds nothing for it only if that job was refused by a safety filter and
not rephrased before.
"""

from contextlib import suppress

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from pydantic import ValidationError

from gateway_bot import keyboards, texts
from gateway_bot.callbacks import RephraseCb
from gateway_bot.filters import PlainText
from gateway_bot.flows.drafts import OrderDraft, new_flow, read
from gateway_bot.flows.launcher import Launcher, Order
from gateway_bot.flows.steps import begin, launch_and_end, query_chat
from gateway_bot.parsing import clean_prompt
from gateway_bot.states import RephraseFlow
from gateway_bot.storage.records import OrderRecords

router = Router(name="rephrase")


@router.callback_query(RephraseCb.filter())
async def rephrase(
    query: CallbackQuery, callback_data: RephraseCb, state: FSMContext, orders: OrderRecords, bot: Bot
) -> None:
    stored = await orders.load(callback_data.job) if len(callback_data.job) == 32 else None
    try:
        order = Order.model_validate(stored) if stored is not None else None
    except ValidationError:
        order = None
    if order is None:
        await query.answer(texts.REPHRASE_GONE)
        return
    if order.user_id != query.from_user.id:
        await query.answer(texts.FOREIGN_BUTTON)
        return
    if not await orders.take_rephrase(callback_data.job):
        await query.answer(texts.STALE_BUTTON)
        return
    free = order.model_copy(update={"rephrase_of": callback_data.job})
    flow = await begin(state, RephraseFlow.prompt, OrderDraft(flow=new_flow(), order=free))
    await query.answer()
    if query.message is not None:
        with suppress(TelegramBadRequest):  # the offer is taken: its button goes
            await bot.edit_message_reply_markup(
                chat_id=query.message.chat.id, message_id=query.message.message_id, reply_markup=None
            )
    ask = texts.rephrase_ask(order.prompt)
    await bot.send_message(query_chat(query), ask, reply_markup=keyboards.cancel(flow))


@router.message(RephraseFlow.prompt, PlainText())
async def new_prompt(message: Message, bot: Bot, state: FSMContext, launcher: Launcher) -> None:
    prompt = clean_prompt(message.text)
    draft = await read(state, OrderDraft)
    await launch_and_end(bot, state, launcher, draft.order.model_copy(update={"prompt": prompt}), draft.flow)
