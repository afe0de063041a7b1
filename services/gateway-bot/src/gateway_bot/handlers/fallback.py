"""The catch-all, last in line: whatever no other handler took gets a short, polite answer."""

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.types import CallbackQuery, Message

from gateway_bot import keyboards, texts
from gateway_bot.failures import AlbumNotAllowed
from gateway_bot.flows.albums import AlbumCollector
from gateway_bot.states import BUTTON_STATES, IMAGE_STATES, SINGLE_IMAGE_STATES

router = Router(name="fallback")


@router.message(StateFilter(*SINGLE_IMAGE_STATES), F.media_group_id)
async def album_where_one_image_is_wanted(message: Message, albums: AlbumCollector) -> None:
    if await albums.first_part(AlbumCollector.key(message.chat.id, message.media_group_id or "")):
        raise AlbumNotAllowed("album in a single-image step")


@router.message(StateFilter(*IMAGE_STATES))
async def not_an_image(message: Message) -> None:
    await message.answer(texts.EXPECTED_IMAGE)


@router.message(StateFilter(*BUTTON_STATES))
async def expected_a_button(message: Message) -> None:
    await message.answer(texts.EXPECTED_BUTTON)


@router.message(StateFilter(None), F.photo | F.document)
async def image_at_menu(message: Message, albums: AlbumCollector) -> None:
    album = message.media_group_id
    if album is None or await albums.first_part(AlbumCollector.key(message.chat.id, album)):
        await message.answer(texts.UNSUPPORTED_AT_MENU, reply_markup=keyboards.main_menu())


@router.message(StateFilter(None))
async def unknown_at_menu(message: Message) -> None:
    await message.answer(texts.UNKNOWN_MESSAGE, reply_markup=keyboards.main_menu())


@router.message()
async def unexpected_in_step(message: Message) -> None:
    await message.answer(texts.EXPECTED_TEXT)


@router.callback_query()
async def stale_button(query: CallbackQuery) -> None:
    await query.answer(texts.STALE_BUTTON)
