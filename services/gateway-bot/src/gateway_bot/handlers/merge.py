"""M8 🔗 Объединить: the multi-image path of M3, reached directly (2–4 images); M3's steps do the rest."""

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from medialab_contracts.catalog import Catalog
from medialab_contracts.modes import Mode

from gateway_bot import keyboards, texts
from gateway_bot.flows.drafts import EditDraft, new_flow
from gateway_bot.flows.steps import begin
from gateway_bot.states import EditFlow

router = Router(name="merge")


@router.message(F.text.in_(texts.labels("BTN_MERGE")))
async def open_merge(message: Message, state: FSMContext, catalog: Catalog) -> None:
    flow = await begin(state, EditFlow.model, EditDraft(flow=new_flow(), mode=Mode.merge))
    await message.answer(
        texts.MERGE_CHOOSE_MODEL, reply_markup=keyboards.models(catalog.for_mode(Mode.merge), flow)
    )
