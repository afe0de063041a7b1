"""«🖼 Мои работы» (menu button and /works): the user's kept results, newest first, a page at a time.

Every button looks the work up under the presser's own id, so it can only act on the presser's works:
⬇️ Оригинал re-sends the document by its Telegram file_id (no upload, free); 🔁 Повторить offers the
same order with a new seed at the catalog's current price, through «✅ Запустить» like any priced
order; ✏️ Изменить and 🔍 Улучшить start those modes with the result as their input.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, User
from medialab_contracts.catalog import Catalog
from medialab_contracts.media import MediaRef
from pydantic import ValidationError

from gateway_bot import keyboards, texts
from gateway_bot.callbacks import WorkAction, WorkCb, WorksPageCb
from gateway_bot.clients.billing import BillingClient
from gateway_bot.flows.confirm import offer
from gateway_bot.flows.inputs import FlowInputs
from gateway_bot.flows.launcher import Order
from gateway_bot.flows.steps import query_chat, show_step
from gateway_bot.handlers.edit import edit_with
from gateway_bot.handlers.upscale import upscale_order
from gateway_bot.settings import GatewaySettings
from gateway_bot.storage.works import KeptWorks, Work, WorkGone

router = Router(name="works")

DAY_S = 24 * 3600


def _order(work: Work) -> Order | None:
    try:
        return Order.model_validate(work.order)
    except ValidationError:
        return None  # kept by a gateway version with another order shape


async def render_page(
    works: KeptWorks, catalog: Catalog, user_id: int, page: int, page_size: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The text and buttons of one page; one entry per output, so a work of two images is two entries."""
    ttl_days = max(1, round(works.ttl_s / DAY_S))
    entries = [
        (work, order, output)
        for work in await works.newest_first(user_id)
        if (order := _order(work)) is not None
        for output in work.outputs
    ]
    if not entries:
        return texts.works_empty(ttl_days), None
    pages = math.ceil(len(entries) / page_size)
    page = min(page, pages)
    first = (page - 1) * page_size
    now = datetime.now(UTC)
    lines: list[str] = []
    live: list[tuple[int, str, int]] = []
    for number, (work, order, output) in enumerate(entries[first : first + page_size], start=first + 1):
        expired = now >= work.expires_at(works.ttl_s)
        model = catalog.get(order.model.key) or order.model
        total = len(work.outputs)
        lines.append(
            texts.work_entry(
                number,
                order.mode,
                model.title,
                order.prompt,
                work.created_at,
                work.expires_at(works.ttl_s),
                part=(output.index, total) if total > 1 else None,
                expired=expired,
            )
        )
        if not expired:
            live.append((number, work.job_id, output.index))
    return texts.works_page(lines, page, pages, ttl_days), keyboards.works_page(live, page, pages)


@router.message(Command("works"))
@router.message(F.text.in_(texts.labels("BTN_WORKS")))
async def open_works(
    message: Message,
    state: FSMContext,
    works: KeptWorks,
    catalog: Catalog,
    settings: GatewaySettings,
    event_from_user: User,
) -> None:
    await state.clear()
    text, markup = await render_page(works, catalog, event_from_user.id, 1, settings.works_page_size)
    await message.answer(text, reply_markup=markup)


@router.callback_query(WorksPageCb.filter())
async def turn_page(
    query: CallbackQuery,
    callback_data: WorksPageCb,
    works: KeptWorks,
    catalog: Catalog,
    settings: GatewaySettings,
    bot: Bot,
) -> None:
    page = callback_data.page
    text, markup = await render_page(works, catalog, query.from_user.id, page, settings.works_page_size)
    await query.answer()
    await show_step(bot, query, text, markup)


async def _live_work(
    query: CallbackQuery, callback_data: WorkCb, works: KeptWorks
) -> tuple[Work, Order] | None:
    """The presser's work and its order while it is kept; otherwise answers the press and gives None."""
    work = await works.get(query.from_user.id, callback_data.job)
    order = _order(work) if work is not None else None
    if (
        work is None
        or order is None
        or work.output(callback_data.n) is None
        or datetime.now(UTC) >= work.expires_at(works.ttl_s)
    ):
        await query.answer(texts.WORK_GONE, show_alert=True)
        return None
    return work, order


async def _input(query: CallbackQuery, works: KeptWorks, work: Work, index: int) -> MediaRef | None:
    try:
        return await works.input_ref(work, index)
    except WorkGone:
        await query.answer(texts.WORK_GONE, show_alert=True)
        return None


@router.callback_query(WorkCb.filter(F.action == WorkAction.original))
async def original(query: CallbackQuery, callback_data: WorkCb, works: KeptWorks, bot: Bot) -> None:
    found = await _live_work(query, callback_data, works)
    if found is None:
        return
    work, order = found
    output = work.output(callback_data.n)
    assert output is not None  # checked by _live_work
    await query.answer()
    # By file_id: Telegram serves the document it already has, nothing is uploaded again.
    await bot.send_document(
        query_chat(query), output.file_id, caption=texts.work_original_caption(order.mode, work.created_at)
    )


@router.callback_query(WorkCb.filter(F.action == WorkAction.repeat))
async def repeat(
    query: CallbackQuery,
    callback_data: WorkCb,
    state: FSMContext,
    works: KeptWorks,
    catalog: Catalog,
    billing: BillingClient,
    bot: Bot,
) -> None:
    found = await _live_work(query, callback_data, works)
    if found is None:
        return
    work, order = found
    model = catalog.get(order.model.key)
    if model is None or order.mode not in model.modes:
        await query.answer(texts.WORK_MODEL_GONE, show_alert=True)
        return
    # Priced as new: today's catalog entry, and a free rephrase does not make its repeat free.
    again = order.model_copy(update={"model": model, "chat_id": query_chat(query), "rephrase_of": None})
    await works.restore(again.inputs)
    await offer(bot, state, billing, again.reseeded(work.seed))
    await query.answer()


@router.callback_query(WorkCb.filter(F.action == WorkAction.edit))
async def edit(
    query: CallbackQuery,
    callback_data: WorkCb,
    state: FSMContext,
    works: KeptWorks,
    catalog: Catalog,
    inputs: FlowInputs,
    bot: Bot,
) -> None:
    found = await _live_work(query, callback_data, works)
    if found is None or (ref := await _input(query, works, found[0], callback_data.n)) is None:
        return
    await query.answer()
    await edit_with(bot, query_chat(query), state, catalog, inputs, ref)


@router.callback_query(WorkCb.filter(F.action == WorkAction.upscale))
async def upscale(
    query: CallbackQuery,
    callback_data: WorkCb,
    state: FSMContext,
    works: KeptWorks,
    catalog: Catalog,
    billing: BillingClient,
    bot: Bot,
) -> None:
    found = await _live_work(query, callback_data, works)
    if found is None or (ref := await _input(query, works, found[0], callback_data.n)) is None:
        return
    await offer(bot, state, billing, upscale_order(catalog, query.from_user.id, query_chat(query), ref))
    await query.answer()
