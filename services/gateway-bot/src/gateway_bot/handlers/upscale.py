"""M7 ⬆️ Улучшить: one image → ×2 upscale; also «🔍 Upscale» under any result.

The mode's first message names the price; «🔍 Upscale» shows none, so it waits for «✅ Запустить»
under its price (``flows.confirm``).
"""

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, User
from medialab_contracts.catalog import Catalog
from medialab_contracts.media import MediaRef
from medialab_contracts.modes import Mode

from gateway_bot import keyboards, texts
from gateway_bot.callbacks import ResultAction, ResultCb
from gateway_bot.clients.billing import BillingClient
from gateway_bot.clients.jobs import JobsClient
from gateway_bot.filters import HasImage
from gateway_bot.flows.confirm import offer
from gateway_bot.flows.drafts import Draft, new_flow
from gateway_bot.flows.intake import Intake
from gateway_bot.flows.launcher import Launcher, Order
from gateway_bot.flows.results import owned_output
from gateway_bot.flows.steps import begin, launch_and_end, query_chat, take_image
from gateway_bot.settings import GatewaySettings
from gateway_bot.states import UpscaleFlow

router = Router(name="upscale")


def upscale_order(catalog: Catalog, user_id: int, chat_id: int, image: MediaRef) -> Order:
    (model,) = catalog.for_mode(Mode.upscale)
    return Order(mode=Mode.upscale, model=model, user_id=user_id, chat_id=chat_id, inputs=(image,))


@router.message(F.text.in_(texts.labels("BTN_UPSCALE")))
async def open_upscale(message: Message, state: FSMContext, catalog: Catalog) -> None:
    flow = await begin(state, UpscaleFlow.image, Draft(flow=new_flow()))
    (model,) = catalog.for_mode(Mode.upscale)
    await message.answer(texts.upscale_send(model.price), reply_markup=keyboards.cancel(flow))


@router.message(UpscaleFlow.image, HasImage(), F.media_group_id.is_(None))
async def take_photo(
    message: Message,
    bot: Bot,
    state: FSMContext,
    catalog: Catalog,
    intake: Intake,
    launcher: Launcher,
    settings: GatewaySettings,
    event_from_user: User,
) -> None:
    image = await take_image(message, bot, intake, settings.max_image_bytes)
    order = upscale_order(catalog, event_from_user.id, message.chat.id, image)
    await launch_and_end(bot, state, launcher, order, (await state.get_data()).get("flow"))


@router.callback_query(ResultCb.filter(F.action == ResultAction.upscale))
async def upscale_result(
    query: CallbackQuery,
    callback_data: ResultCb,
    state: FSMContext,
    catalog: Catalog,
    jobs: JobsClient,
    billing: BillingClient,
    bot: Bot,
) -> None:
    image = await owned_output(query, callback_data, jobs)
    if image is None:
        return
    await offer(bot, state, billing, upscale_order(catalog, query.from_user.id, query_chat(query), image))
    await query.answer()
