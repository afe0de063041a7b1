"""M1 🎨 Создать: model → format → prompt; a prompt typed at the menu; the extended text form.

The extended form names its model itself, so no button has shown a price yet: it waits for
«✅ Запустить» under its price (``flows.confirm``).
"""

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, User
from medialab_contracts.catalog import Catalog, ImageFormat, ModelSpec, format_by_key
from medialab_contracts.jobs import MAX_PROMPT_CHARS, ImageSize
from medialab_contracts.modes import Mode

from gateway_bot import keyboards, texts
from gateway_bot.callbacks import FormatCb, ModelCb, ResultAction, ResultCb, VariantsCb
from gateway_bot.clients.billing import BillingClient
from gateway_bot.clients.jobs import JobsClient
from gateway_bot.filters import PlainText, SameFlow
from gateway_bot.flows.confirm import offer
from gateway_bot.flows.drafts import CreateDraft, CreateWithFormat, CreateWithModel, new_flow, read, update
from gateway_bot.flows.launcher import Launcher, Order
from gateway_bot.flows.results import owned_result
from gateway_bot.flows.steps import begin, launch_and_end, query_chat, show_step
from gateway_bot.parsing import clean_prompt, is_extended_form, parse_extended
from gateway_bot.states import CreateFlow

router = Router(name="create")

_SQUARE = format_by_key("square")  # the extended form's size when it names none


async def _launch(
    bot: Bot,
    state: FSMContext,
    launcher: Launcher,
    model: ModelSpec,
    fmt: ImageFormat,
    prompt: str,
    images: int,
    user_id: int,
    chat_id: int,
    *,
    flow: str,
) -> None:
    order = Order(
        mode=Mode.create,
        model=model,
        user_id=user_id,
        chat_id=chat_id,
        prompt=prompt,
        size=ImageSize(width=fmt.width, height=fmt.height),
        images=images,
    )
    await launch_and_end(bot, state, launcher, order, flow)


@router.message(F.text.in_(texts.labels("BTN_CREATE")))
async def open_create(message: Message, state: FSMContext, catalog: Catalog) -> None:
    flow = await begin(state, CreateFlow.model, CreateDraft(flow=new_flow()))
    await message.answer(
        texts.CREATE_CHOOSE_MODEL, reply_markup=keyboards.models(catalog.for_mode(Mode.create), flow)
    )


@router.message(StateFilter(None), PlainText())
async def prompt_at_menu(
    message: Message,
    state: FSMContext,
    catalog: Catalog,
    billing: BillingClient,
    bot: Bot,
    event_from_user: User,
) -> None:
    text = message.text or ""
    if is_extended_form(text):
        request = parse_extended(text, catalog)
        size = request.size
        if size is None and request.aspect_ratio is None:
            size = ImageSize(width=_SQUARE.width, height=_SQUARE.height)
        order = Order(
            mode=Mode.create,
            model=request.model,
            user_id=event_from_user.id,
            chat_id=message.chat.id,
            prompt=request.prompt,
            negative=request.negative,
            size=size,
            aspect_ratio=request.aspect_ratio,
        )
        await offer(bot, state, billing, order)
        return
    flow = await begin(state, CreateFlow.model, CreateDraft(flow=new_flow(), prompt=clean_prompt(text)))
    await message.answer(
        texts.DRAFT_CHOOSE_MODEL, reply_markup=keyboards.models(catalog.for_mode(Mode.create), flow)
    )


@router.callback_query(CreateFlow.model, ModelCb.filter(), SameFlow(CreateDraft))
async def choose_model(
    query: CallbackQuery,
    callback_data: ModelCb,
    draft: CreateDraft,
    state: FSMContext,
    catalog: Catalog,
    bot: Bot,
) -> None:
    model = catalog.get(callback_data.model)
    if model is None or Mode.create not in model.modes:
        await query.answer(texts.STALE_BUTTON)
        return
    await update(state, draft, CreateWithModel, model=model.key)
    await state.set_state(CreateFlow.format)
    await query.answer()
    await show_step(bot, query, texts.choose_format(model), keyboards.formats(model, callback_data.flow))


@router.callback_query(CreateFlow.format, FormatCb.filter(), SameFlow(CreateWithModel))
async def choose_format(
    query: CallbackQuery,
    callback_data: FormatCb,
    draft: CreateWithModel,
    state: FSMContext,
    catalog: Catalog,
    launcher: Launcher,
    bot: Bot,
) -> None:
    model = catalog.by_key(draft.model)
    fmt = model.find_format(callback_data.fmt)
    if fmt is None:  # drawn for another model or by an older catalog
        await query.answer(texts.STALE_BUTTON)
        return
    await update(state, draft, CreateWithModel, format=fmt.key)
    await query.answer()
    images = draft.images
    if draft.prompt:
        summary = texts.choice_summary(model, fmt, images)
        await show_step(bot, query, summary, None)
        await _launch(
            bot,
            state,
            launcher,
            model,
            fmt,
            draft.prompt,
            images,
            query.from_user.id,
            query_chat(query),
            flow=draft.flow,
        )
        return
    await state.set_state(CreateFlow.prompt)
    await show_step(bot, query, texts.enter_prompt(model, images), keyboards.cancel(callback_data.flow))


@router.callback_query(CreateFlow.format, VariantsCb.filter(), SameFlow(CreateWithModel))
async def choose_variants(
    query: CallbackQuery,
    callback_data: VariantsCb,
    draft: CreateWithModel,
    state: FSMContext,
    catalog: Catalog,
    bot: Bot,
) -> None:
    """An image count under the formats: kept for the job, the step drawn again with it chosen."""
    model = catalog.by_key(draft.model)
    if callback_data.n not in model.variant_choices:
        await query.answer(texts.STALE_BUTTON)
        return
    await query.answer()
    if draft.images == callback_data.n:
        return  # already chosen: Telegram refuses an edit that changes nothing
    await update(state, draft, CreateWithModel, images=callback_data.n)
    markup = keyboards.formats(model, callback_data.flow, callback_data.n)
    await show_step(bot, query, texts.choose_format(model, callback_data.n), markup)


@router.message(CreateFlow.prompt, PlainText())
async def enter_prompt(
    message: Message,
    state: FSMContext,
    catalog: Catalog,
    launcher: Launcher,
    bot: Bot,
    event_from_user: User,
) -> None:
    draft = await read(state, CreateWithFormat)
    model = catalog.by_key(draft.model)
    prompt = clean_prompt(message.text)
    await _launch(
        bot,
        state,
        launcher,
        model,
        model.format(draft.format),
        prompt,
        draft.images,
        event_from_user.id,
        message.chat.id,
        flow=draft.flow,
    )


@router.callback_query(ResultCb.filter(F.action == ResultAction.create))
async def create_from_prompt(
    query: CallbackQuery,
    callback_data: ResultCb,
    state: FSMContext,
    catalog: Catalog,
    jobs: JobsClient,
    bot: Bot,
) -> None:
    event = await owned_result(query, callback_data, jobs)
    if event is None:
        return
    draft = CreateDraft(flow=new_flow(), prompt=(event.text or "")[:MAX_PROMPT_CHARS])
    flow = await begin(state, CreateFlow.model, draft)
    await query.answer()
    await bot.send_message(
        query_chat(query),
        texts.DRAFT_CHOOSE_MODEL,
        reply_markup=keyboards.models(catalog.for_mode(Mode.create), flow),
    )
