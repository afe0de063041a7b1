"""M3 ✏️ Изменить (and the steps M8 🔗 Объединить shares): model → format (Nano Banana Pro) →
1–4 images as photos, documents or an album → the instruction.

Images are collected in KV per flow (``FlowInputs``), so an album whose parts reach different
replicas, or quick single photos, all land in one list; the album is answered once.
"""

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, User
from medialab_contracts.catalog import DEFAULT_EDIT_SIZE, Catalog
from medialab_contracts.jobs import MAX_INPUTS, ImageSize
from medialab_contracts.media import MediaRef
from medialab_contracts.modes import Mode

from gateway_bot import keyboards, texts
from gateway_bot.callbacks import FormatCb, ModelCb, ResultAction, ResultCb, VariantsCb
from gateway_bot.clients.jobs import JobsClient
from gateway_bot.failures import AlbumTooLarge, InputRejected, NotEnoughImages
from gateway_bot.filters import HasImage, PlainText, SameFlow
from gateway_bot.flows.albums import AlbumCollector, AlbumPart
from gateway_bot.flows.drafts import Draft, EditDraft, EditWithModel, new_flow, read, update
from gateway_bot.flows.inputs import FlowInputs
from gateway_bot.flows.intake import Intake
from gateway_bot.flows.launcher import Launcher, Order
from gateway_bot.flows.results import owned_output
from gateway_bot.flows.steps import begin, launch_and_end, query_chat, show_step, take_image
from gateway_bot.imaging import check_album
from gateway_bot.parsing import clean_prompt
from gateway_bot.settings import GatewaySettings
from gateway_bot.states import EditFlow

router = Router(name="edit")

MIN_IMAGES = {Mode.edit: 1, Mode.merge: 2}


@router.message(F.text.in_(texts.labels("BTN_EDIT")))
async def open_edit(message: Message, state: FSMContext, catalog: Catalog) -> None:
    flow = await begin(state, EditFlow.model, EditDraft(flow=new_flow(), mode=Mode.edit))
    await message.answer(
        texts.EDIT_CHOOSE_MODEL, reply_markup=keyboards.models(catalog.for_mode(Mode.edit), flow)
    )


@router.callback_query(ResultCb.filter(F.action == ResultAction.edit))
async def edit_result(
    query: CallbackQuery,
    callback_data: ResultCb,
    state: FSMContext,
    catalog: Catalog,
    jobs: JobsClient,
    inputs: FlowInputs,
    bot: Bot,
) -> None:
    ref = await owned_output(query, callback_data, jobs)
    if ref is None:
        return
    await query.answer()
    await edit_with(bot, query_chat(query), state, catalog, inputs, ref)


async def edit_with(
    bot: Bot, chat_id: int, state: FSMContext, catalog: Catalog, inputs: FlowInputs, ref: MediaRef
) -> None:
    """Start M3 with ``ref`` as its image already (a result the user owns): no upload asked for."""
    flow = await begin(state, EditFlow.model, EditDraft(flow=new_flow(), mode=Mode.edit))
    await inputs.preload(flow, [ref])
    await bot.send_message(
        chat_id,
        texts.EDIT_PRELOADED_CHOOSE_MODEL,
        reply_markup=keyboards.models(catalog.for_mode(Mode.edit), flow),
    )


async def _ask_images(
    bot: Bot,
    query: CallbackQuery,
    state: FSMContext,
    catalog: Catalog,
    inputs: FlowInputs,
    draft: EditWithModel,
) -> None:
    await state.set_state(EditFlow.images)
    have = await inputs.count(draft.flow)
    model, images = catalog.by_key(draft.model), draft.images
    text = texts.send_images(draft.mode, model, have, MAX_INPUTS) + texts.variants_note(model, images)
    await show_step(bot, query, text, keyboards.with_variants(model, draft.flow, images))


@router.callback_query(EditFlow.images, VariantsCb.filter(), SameFlow(EditWithModel))
async def choose_variants(
    query: CallbackQuery,
    callback_data: VariantsCb,
    draft: EditWithModel,
    state: FSMContext,
    catalog: Catalog,
    inputs: FlowInputs,
    bot: Bot,
) -> None:
    """An image count under the request for images: kept for the job, the step drawn again."""
    if callback_data.n not in catalog.by_key(draft.model).variant_choices:
        await query.answer(texts.STALE_BUTTON)
        return
    await query.answer()
    if draft.images != callback_data.n:  # Telegram refuses an edit that changes nothing
        draft = await update(state, draft, EditWithModel, images=callback_data.n)
        await _ask_images(bot, query, state, catalog, inputs, draft)


@router.callback_query(EditFlow.model, ModelCb.filter(), SameFlow(EditDraft))
async def choose_model(
    query: CallbackQuery,
    callback_data: ModelCb,
    draft: EditDraft,
    state: FSMContext,
    catalog: Catalog,
    inputs: FlowInputs,
    bot: Bot,
) -> None:
    model = catalog.get(callback_data.model)
    if model is None or draft.mode not in model.modes:
        await query.answer(texts.STALE_BUTTON)
        return
    chosen = await update(state, draft, EditWithModel, model=model.key)
    await query.answer()
    if model.offers_formats:
        await state.set_state(EditFlow.format)
        await show_step(bot, query, texts.choose_format(model), keyboards.formats(model, callback_data.flow))
        return
    await _ask_images(bot, query, state, catalog, inputs, chosen)


@router.callback_query(EditFlow.format, FormatCb.filter(), SameFlow(EditWithModel))
async def choose_format(
    query: CallbackQuery,
    callback_data: FormatCb,
    draft: EditWithModel,
    state: FSMContext,
    catalog: Catalog,
    inputs: FlowInputs,
    bot: Bot,
) -> None:
    if catalog.by_key(draft.model).find_format(callback_data.fmt) is None:
        await query.answer(texts.STALE_BUTTON)  # drawn for another model or by an older catalog
        return
    draft = await update(state, draft, EditWithModel, format=callback_data.fmt)
    await query.answer()
    await _ask_images(bot, query, state, catalog, inputs, draft)


async def _launch(
    bot: Bot,
    state: FSMContext,
    catalog: Catalog,
    inputs: FlowInputs,
    launcher: Launcher,
    settings: GatewaySettings,
    user_id: int,
    chat_id: int,
    instruction: str | None,
) -> None:
    draft = await read(state, EditWithModel)
    mode = draft.mode
    refs = await inputs.collected(draft.flow)
    if len(refs) < MIN_IMAGES[mode]:
        raise NotEnoughImages(MIN_IMAGES[mode], len(refs))
    check_album(refs, settings.image_limits)  # single photos and albums of one job, as a whole
    prompt = clean_prompt(instruction)
    model = catalog.by_key(draft.model)
    if draft.format:
        fmt = model.format(draft.format)
        size = ImageSize(width=fmt.width, height=fmt.height)
    else:
        size = ImageSize(width=DEFAULT_EDIT_SIZE[0], height=DEFAULT_EDIT_SIZE[1])
    order = Order(
        mode=mode,
        model=model,
        user_id=user_id,
        chat_id=chat_id,
        prompt=prompt,
        size=size,
        inputs=tuple(refs),
        images=draft.images,
    )
    await launch_and_end(bot, state, launcher, order, draft.flow)


async def _after_upload(
    message: Message,
    bot: Bot,
    state: FSMContext,
    catalog: Catalog,
    inputs: FlowInputs,
    launcher: Launcher,
    settings: GatewaySettings,
    user_id: int,
    total: int,
    caption: str | None,
) -> None:
    if caption and caption.strip():
        await _launch(bot, state, catalog, inputs, launcher, settings, user_id, message.chat.id, caption)
        return
    await message.answer(texts.images_received(total, MAX_INPUTS))


@router.message(EditFlow.images, HasImage(), F.media_group_id)
async def album_part(
    message: Message,
    bot: Bot,
    state: FSMContext,
    catalog: Catalog,
    intake: Intake,
    inputs: FlowInputs,
    albums: AlbumCollector,
    launcher: Launcher,
    settings: GatewaySettings,
    event_from_user: User,
) -> None:
    flow = (await read(state, Draft)).flow
    key = AlbumCollector.key(message.chat.id, message.media_group_id or "")
    if not await albums.announce(key, message.message_id):
        await single_image(message, bot, state, catalog, intake, inputs, launcher, settings, event_from_user)
        return
    await inputs.expect(flow)
    try:
        ref = await take_image(message, bot, intake, settings.max_image_bytes)
        part = AlbumPart(message.message_id, ref=ref, caption=message.caption)
    except InputRejected as error:
        part = AlbumPart(message.message_id, error=texts.describe_input(error), caption=message.caption)
    parts = await albums.fill(key, part)
    if parts is None:
        return  # another part's handler answers for the album
    refused = [(index, p.error) for index, p in enumerate(parts) if p.error]
    refs = [p.ref for p in parts if p.ref is not None] if not refused else []
    try:
        check_album(refs, settings.image_limits)
    except AlbumTooLarge:
        await inputs.settle(flow, [], arrived=len(parts), max_count=MAX_INPUTS)
        raise
    total = await inputs.settle(flow, refs, arrived=len(parts), max_count=MAX_INPUTS)
    if refused:
        index, problem = refused[0]
        await message.answer(texts.album_part_refused(index, len(parts), problem))
        return
    caption = next((p.caption for p in parts if p.caption), None)
    await _after_upload(
        message, bot, state, catalog, inputs, launcher, settings, event_from_user.id, total, caption
    )


@router.message(EditFlow.images, HasImage())
async def single_image(
    message: Message,
    bot: Bot,
    state: FSMContext,
    catalog: Catalog,
    intake: Intake,
    inputs: FlowInputs,
    launcher: Launcher,
    settings: GatewaySettings,
    event_from_user: User,
) -> None:
    flow = (await read(state, Draft)).flow
    await inputs.expect(flow)
    try:
        ref = await take_image(message, bot, intake, settings.max_image_bytes)
    except InputRejected:
        await inputs.settle(flow, [], arrived=1, max_count=MAX_INPUTS)
        raise
    total = await inputs.settle(flow, [ref], arrived=1, max_count=MAX_INPUTS)
    await _after_upload(
        message, bot, state, catalog, inputs, launcher, settings, event_from_user.id, total, message.caption
    )


@router.message(EditFlow.images, PlainText())
async def instruction(
    message: Message,
    bot: Bot,
    state: FSMContext,
    catalog: Catalog,
    inputs: FlowInputs,
    launcher: Launcher,
    settings: GatewaySettings,
    event_from_user: User,
) -> None:
    await _launch(
        bot, state, catalog, inputs, launcher, settings, event_from_user.id, message.chat.id, message.text
    )
