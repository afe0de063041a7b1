"""M4 ✨ Ретушь: a face photo (≤ 10 MB) → Мягкая ретушь / Усилить черты → an instruction or «Пропустить»."""

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, User
from medialab_contracts.catalog import Catalog
from medialab_contracts.modes import Mode

from gateway_bot import keyboards, prompts, texts
from gateway_bot.callbacks import NavAction, NavCb, RetouchCb, RetouchKind
from gateway_bot.filters import HasImage, PlainText, SameFlow
from gateway_bot.flows.drafts import RetouchDraft, RetouchReady, new_flow, read, update
from gateway_bot.flows.intake import Intake
from gateway_bot.flows.launcher import Launcher, Order
from gateway_bot.flows.steps import begin, launch_and_end, query_chat, show_step, take_image
from gateway_bot.parsing import clean_prompt
from gateway_bot.settings import GatewaySettings
from gateway_bot.states import RetouchFlow

router = Router(name="retouch")

MODEL_KEYS = {RetouchKind.soft: "ret", RetouchKind.enhance: "sde"}
FIXED_PROMPTS = {RetouchKind.soft: prompts.RETOUCH_SOFT, RetouchKind.enhance: prompts.RETOUCH_ENHANCE}


@router.message(F.text.in_(texts.labels("BTN_RETOUCH")))
async def open_retouch(message: Message, state: FSMContext, settings: GatewaySettings) -> None:
    flow = await begin(state, RetouchFlow.image, RetouchDraft(flow=new_flow()))
    await message.answer(
        texts.retouch_send(settings.max_retouch_bytes // (1024 * 1024)), reply_markup=keyboards.cancel(flow)
    )


@router.message(RetouchFlow.image, HasImage(), F.media_group_id.is_(None))
async def take_photo(
    message: Message,
    bot: Bot,
    state: FSMContext,
    catalog: Catalog,
    intake: Intake,
    settings: GatewaySettings,
) -> None:
    draft = await read(state, RetouchDraft)
    ref = await take_image(message, bot, intake, settings.max_retouch_bytes)
    await update(state, draft, RetouchDraft, image=ref)
    await state.set_state(RetouchFlow.kind)
    soft, enhance = (
        catalog.by_key(MODEL_KEYS[kind]).price for kind in (RetouchKind.soft, RetouchKind.enhance)
    )
    await message.answer(
        texts.RETOUCH_CHOOSE_KIND, reply_markup=keyboards.retouch_kinds(draft.flow, soft, enhance)
    )


@router.callback_query(RetouchFlow.kind, RetouchCb.filter(), SameFlow(RetouchDraft))
async def choose_kind(
    query: CallbackQuery,
    callback_data: RetouchCb,
    draft: RetouchDraft,
    state: FSMContext,
    catalog: Catalog,
    launcher: Launcher,
    bot: Bot,
) -> None:
    await update(state, draft, RetouchDraft, kind=callback_data.kind)
    await query.answer()
    model = catalog.by_key(MODEL_KEYS[callback_data.kind])
    if not model.takes_prompt:
        # The model reads no text: asking for a wish would take one and drop it.
        await show_step(bot, query, texts.retouch_no_instruction(model.price), None)
        await _launch(bot, state, catalog, launcher, query.from_user.id, query_chat(query), "")
        return
    await state.set_state(RetouchFlow.instruction)
    await show_step(bot, query, texts.retouch_instruction(model.price), keyboards.skip(callback_data.flow))


async def _launch(
    bot: Bot,
    state: FSMContext,
    catalog: Catalog,
    launcher: Launcher,
    user_id: int,
    chat_id: int,
    extra: str,
) -> None:
    draft = await read(state, RetouchReady)
    kind = draft.kind
    order = Order(
        mode=Mode.retouch,
        model=catalog.by_key(MODEL_KEYS[kind]),
        user_id=user_id,
        chat_id=chat_id,
        prompt=extra,
        fixed_prompt=FIXED_PROMPTS[kind],
        inputs=(draft.image,),
    )
    await launch_and_end(bot, state, launcher, order, draft.flow)


@router.message(RetouchFlow.instruction, PlainText())
async def instruction(
    message: Message,
    bot: Bot,
    state: FSMContext,
    catalog: Catalog,
    launcher: Launcher,
    event_from_user: User,
) -> None:
    extra = clean_prompt(message.text)
    await _launch(bot, state, catalog, launcher, event_from_user.id, message.chat.id, extra)


@router.callback_query(RetouchFlow.instruction, NavCb.filter(F.action == NavAction.skip), SameFlow())
async def skip_instruction(
    query: CallbackQuery, state: FSMContext, catalog: Catalog, launcher: Launcher, bot: Bot
) -> None:
    await query.answer()
    await show_step(bot, query, texts.RETOUCH_SKIPPED, None)
    await _launch(bot, state, catalog, launcher, query.from_user.id, query_chat(query), "")
