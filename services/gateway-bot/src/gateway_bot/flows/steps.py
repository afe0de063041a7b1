"""Small steps every conversation shares: starting a flow, taking one image."""

from __future__ import annotations

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from medialab_contracts.media import MediaRef

from gateway_bot.failures import NotAnImage
from gateway_bot.flows.drafts import Draft
from gateway_bot.flows.intake import Intake, upload_of
from gateway_bot.flows.launcher import Launcher, Order
from gateway_bot.storage.fsm import KvStorage


async def begin(state: FSMContext, step: State, draft: Draft) -> str:
    """Start a new conversation with ``draft`` (its flow id fresh from ``new_flow``, so buttons of
    older ones stop working); the flow id comes back for the step's buttons."""
    await state.set_data(draft.model_dump(mode="json"))
    await state.set_state(step)
    return draft.flow


async def launch_and_end(
    bot: Bot, state: FSMContext, launcher: Launcher, order: Order, flow: str | None
) -> None:
    """Launch the job of conversation ``flow`` (the draft's flow id), then end the conversation,
    unless the user began another one while the launch ran.

    Updates of one chat are handled concurrently, and a launch takes a few hundred ms (billing, the
    job's publishing, its status message): a user quick to open the next mode had that new
    conversation wiped by a plain ``clear`` at the end, and their next photo was answered «choose a
    mode first»."""
    await launcher.launch(bot, order)
    if isinstance(state.storage, KvStorage):
        await state.storage.end_flow(state.key, flow)
    elif (await state.get_data()).get("flow") == flow:  # the flow tests' in-memory storage
        await state.clear()


async def take_image(message: Message, bot: Bot, intake: Intake, max_bytes: int) -> MediaRef:
    upload = upload_of(message)
    if upload is None or message.from_user is None:
        raise NotAnImage("no photo or document")
    return await intake.accept(bot, upload, message.from_user.id, max_bytes)


def query_chat(query: CallbackQuery) -> int:
    """The chat a button was pressed in (the user's private chat when the message is gone)."""
    return query.message.chat.id if query.message is not None else query.from_user.id


async def show_step(bot: Bot, query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Replace the pressed keyboard's message with the next step (a new message if it is gone)."""
    if query.message is None:
        await bot.send_message(query.from_user.id, text, reply_markup=markup)
        return
    await bot.edit_message_text(
        text=text, chat_id=query.message.chat.id, message_id=query.message.message_id, reply_markup=markup
    )
