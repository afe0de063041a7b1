"""M2 ✍️ Написать: plain words → a detailed prompt by the LLM (paid like any job)."""

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, User
from annotated_types import MaxLen
from medialab_contracts.catalog import Catalog
from medialab_contracts.llm import WritePromptRequest
from medialab_contracts.modes import Mode

from gateway_bot import keyboards, texts
from gateway_bot.failures import PromptTooLong
from gateway_bot.filters import PlainText
from gateway_bot.flows.drafts import Draft, new_flow
from gateway_bot.flows.launcher import Launcher, Order
from gateway_bot.flows.steps import begin
from gateway_bot.parsing import clean_prompt
from gateway_bot.states import WriteFlow

router = Router(name="write")

MAX_WORDS_CHARS = next(
    rule.max_length for rule in WritePromptRequest.model_fields["text"].metadata if isinstance(rule, MaxLen)
)


@router.message(F.text.in_(texts.labels("BTN_WRITE")))
async def open_write(message: Message, state: FSMContext, catalog: Catalog) -> None:
    flow = await begin(state, WriteFlow.words, Draft(flow=new_flow()))
    (model,) = catalog.for_mode(Mode.prompt)
    await message.answer(texts.write_ask(model.price), reply_markup=keyboards.cancel(flow))


@router.message(WriteFlow.words, PlainText())
async def write_prompt(
    message: Message,
    state: FSMContext,
    catalog: Catalog,
    launcher: Launcher,
    bot: Bot,
    event_from_user: User,
) -> None:
    words = clean_prompt(message.text)
    if len(words) > MAX_WORDS_CHARS:
        raise PromptTooLong(MAX_WORDS_CHARS)
    (model,) = catalog.for_mode(Mode.prompt)
    await state.clear()
    order = Order(
        mode=Mode.prompt, model=model, user_id=event_from_user.id, chat_id=message.chat.id, prompt=words
    )
    await launcher.launch(bot, order)
