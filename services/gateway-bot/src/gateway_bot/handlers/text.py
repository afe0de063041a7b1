"""M5 📝 Добавить текст: an image → the text (multi-line, emoji) → a style wish or /skip; drawn locally.

Before the text a marketplace preset may be picked: text-render crops the picture to its size first.
"""

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, User
from annotated_types import MaxLen
from medialab_contracts.catalog import Catalog
from medialab_contracts.jobs import ImageSize, JobRequest
from medialab_contracts.modes import Mode

from gateway_bot import keyboards, texts
from gateway_bot.callbacks import FormatCb
from gateway_bot.failures import EmptyPrompt, PromptTooLong, TooManyPixels
from gateway_bot.filters import HasImage, PlainText, SameFlow
from gateway_bot.flows.drafts import TextDraft, TextReady, new_flow, read, update
from gateway_bot.flows.intake import Intake
from gateway_bot.flows.launcher import Launcher, Order
from gateway_bot.flows.steps import begin, launch_and_end, show_step, take_image
from gateway_bot.settings import GatewaySettings
from gateway_bot.states import TextFlow

router = Router(name="text")


def _limit(field: str) -> int:
    return next(
        rule.max_length for rule in JobRequest.model_fields[field].metadata if isinstance(rule, MaxLen)
    )


MAX_OVERLAY_CHARS = _limit("overlay_text")
MAX_WISH_CHARS = _limit("style_wish")


@router.message(F.text.in_(texts.labels("BTN_TEXT")))
async def open_text(message: Message, state: FSMContext, catalog: Catalog, settings: GatewaySettings) -> None:
    flow = await begin(state, TextFlow.image, TextDraft(flow=new_flow()))
    (model,) = catalog.for_mode(Mode.text)
    await message.answer(
        texts.text_send_image(model.price, settings.max_text_image_bytes), reply_markup=keyboards.cancel(flow)
    )


@router.message(TextFlow.image, HasImage(), F.media_group_id.is_(None))
async def take_photo(
    message: Message,
    bot: Bot,
    state: FSMContext,
    intake: Intake,
    catalog: Catalog,
    settings: GatewaySettings,
) -> None:
    draft = await read(state, TextDraft)
    ref = await take_image(message, bot, intake, settings.max_text_image_bytes)
    if (
        ref.width is not None
        and ref.height is not None
        and ref.width * ref.height > settings.max_text_image_pixels
    ):
        raise TooManyPixels(f"{ref.width}x{ref.height} over {settings.max_text_image_pixels} pixels")
    await update(state, draft, TextDraft, image=ref)
    await state.set_state(TextFlow.text)
    (model,) = catalog.for_mode(Mode.text)
    await message.answer(texts.TEXT_ENTER, reply_markup=keyboards.formats(model, draft.flow))


@router.callback_query(TextFlow.text, FormatCb.filter(), SameFlow(TextDraft))
async def choose_format(
    query: CallbackQuery,
    callback_data: FormatCb,
    draft: TextDraft,
    state: FSMContext,
    catalog: Catalog,
    bot: Bot,
) -> None:
    (model,) = catalog.for_mode(Mode.text)
    fmt = model.find_format(callback_data.fmt)
    if fmt is None:  # drawn by an older catalog
        await query.answer(texts.STALE_BUTTON)
        return
    await update(state, draft, TextDraft, format=fmt.key)
    await query.answer()
    await show_step(bot, query, texts.text_format_chosen(fmt), keyboards.cancel(callback_data.flow))


@router.message(TextFlow.text, PlainText())
async def take_text(message: Message, state: FSMContext) -> None:
    overlay = (message.text or "").strip()
    if not overlay:
        raise EmptyPrompt("empty overlay text")
    if len(overlay) > MAX_OVERLAY_CHARS:
        raise PromptTooLong(MAX_OVERLAY_CHARS)
    draft = await update(state, await read(state, TextDraft), TextDraft, overlay=overlay)
    await state.set_state(TextFlow.style)
    await message.answer(texts.TEXT_STYLE, reply_markup=keyboards.cancel(draft.flow))


async def _launch(
    bot: Bot,
    state: FSMContext,
    catalog: Catalog,
    launcher: Launcher,
    user_id: int,
    chat_id: int,
    wish: str | None,
) -> None:
    draft = await read(state, TextReady)
    (model,) = catalog.for_mode(Mode.text)
    fmt = model.find_format(draft.format or "")
    order = Order(
        mode=Mode.text,
        model=model,
        user_id=user_id,
        chat_id=chat_id,
        inputs=(draft.image,),
        overlay_text=draft.overlay,
        style_wish=wish,
        size=None if fmt is None else ImageSize(width=fmt.width, height=fmt.height),
    )
    await launch_and_end(bot, state, launcher, order, draft.flow)


@router.message(TextFlow.style, Command("skip"))
async def skip_style(
    message: Message,
    bot: Bot,
    state: FSMContext,
    catalog: Catalog,
    launcher: Launcher,
    event_from_user: User,
) -> None:
    await _launch(bot, state, catalog, launcher, event_from_user.id, message.chat.id, None)


@router.message(TextFlow.style, PlainText())
async def take_style(
    message: Message,
    bot: Bot,
    state: FSMContext,
    catalog: Catalog,
    launcher: Launcher,
    event_from_user: User,
) -> None:
    wish = (message.text or "").strip()
    if len(wish) > MAX_WISH_CHARS:
        raise PromptTooLong(MAX_WISH_CHARS)
    await _launch(bot, state, catalog, launcher, event_from_user.id, message.chat.id, wish or None)
