"""M6 🔄 Заменить лицо: the source face, then the target; the job's inputs are ``[face, target]``."""

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, User
from medialab_contracts.catalog import Catalog
from medialab_contracts.modes import Mode

from gateway_bot import keyboards, texts
from gateway_bot.filters import HasImage
from gateway_bot.flows.drafts import FaceSwapDraft, FaceSwapReady, new_flow, read, update
from gateway_bot.flows.intake import Intake
from gateway_bot.flows.launcher import Launcher, Order
from gateway_bot.flows.steps import begin, launch_and_end, take_image
from gateway_bot.settings import GatewaySettings
from gateway_bot.states import FaceSwapFlow

router = Router(name="faceswap")


@router.message(F.text.in_(texts.labels("BTN_FACESWAP")))
async def open_faceswap(message: Message, state: FSMContext, catalog: Catalog) -> None:
    flow = await begin(state, FaceSwapFlow.face, FaceSwapDraft(flow=new_flow()))
    (model,) = catalog.for_mode(Mode.faceswap)
    await message.answer(texts.faceswap_send_face(model.price), reply_markup=keyboards.cancel(flow))


@router.message(FaceSwapFlow.face, HasImage(), F.media_group_id.is_(None))
async def take_face(
    message: Message, bot: Bot, state: FSMContext, intake: Intake, settings: GatewaySettings
) -> None:
    draft = await read(state, FaceSwapDraft)
    ref = await take_image(message, bot, intake, settings.max_image_bytes)
    await update(state, draft, FaceSwapDraft, face=ref)
    await state.set_state(FaceSwapFlow.target)
    await message.answer(texts.FACESWAP_SEND_TARGET, reply_markup=keyboards.cancel(draft.flow))


@router.message(FaceSwapFlow.target, HasImage(), F.media_group_id.is_(None))
async def take_target(
    message: Message,
    bot: Bot,
    state: FSMContext,
    catalog: Catalog,
    intake: Intake,
    launcher: Launcher,
    settings: GatewaySettings,
    event_from_user: User,
) -> None:
    draft = await read(state, FaceSwapReady)
    target = await take_image(message, bot, intake, settings.max_image_bytes)
    (model,) = catalog.for_mode(Mode.faceswap)
    order = Order(
        mode=Mode.faceswap,
        model=model,
        user_id=event_from_user.id,
        chat_id=message.chat.id,
        inputs=(draft.face, target),
    )
    await launch_and_end(bot, state, launcher, order, draft.flow)
