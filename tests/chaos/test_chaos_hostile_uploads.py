"""Every hostile file of the fuzz corpus, sent to the bot as a user would, on the whole stack: into M3
(edit) and M7 (upscale), which fal-runner takes, M5 (add text), which text-render decodes itself, and
M6 (face swap, as the source portrait), which wavespeed-runner takes.

A file that must be refused gets one of the clear input messages (not "something went wrong") and no
reservation; an odd but real picture is either refused the same way or becomes a job that ends
properly (the oracle). The gateway is still up afterwards.
"""

from __future__ import annotations

import asyncio
import io

import pytest
from gateway_bot import texts
from medialab_contracts.catalog import default_catalog
from medialab_sandbox.telegram import EmulatorError, TelegramUserClient, TranscriptMessage
from medialab_testkit.chaos import Bus, ChaosStack, Oracle, text_of
from medialab_testkit.fuzz import Hostile, corpus
from PIL import Image

pytestmark = pytest.mark.e2e


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (240, 180), (90, 120, 150)).save(out, format="JPEG")
    return out.getvalue()


TARGET_PHOTO = _photo()

CLEAR_REFUSALS = (
    texts.NOT_AN_IMAGE,
    texts.BAD_IMAGE,
    texts.IMAGE_TOO_MANY_PIXELS,
    texts.ANIMATED_IMAGE,
    texts.image_too_small(32),  # Recraft crisp (⬆️ Улучшить) refuses a side under 32 px before any charge
    texts.image_too_large(20 * 1024 * 1024),
    # Upscale's model needs 32 px a side (recraft crisp): a 1×1 file is a valid image it cannot take.
    texts.image_too_small(max(m.min_input_side for m in default_catalog().models)),
)
# The job's status message: «задача принята», edited to «✅ …: готово.» when the result is out — a
# slow client may first read it edited.
STARTED = ("задача принята", ": готово")
# The next step's question: the mode took the file.
ACCEPTED = ("Изображений загружено", *STARTED, texts.TEXT_ENTER, texts.FACESWAP_SEND_TARGET)


def is_started(text: str) -> bool:
    return any(part in text for part in STARTED)


def answer_to_upload(message: TranscriptMessage) -> bool:
    return any(text in text_of(message) for text in (*CLEAR_REFUSALS, *ACCEPTED, texts.INTERNAL_ERROR))


async def send_file(user: TelegramUserClient, hostile: Hostile) -> TranscriptMessage | None:
    """The bot's answer to the file; None when Telegram itself refuses the upload (the bot never sees it)."""
    try:
        await user.send_document(hostile.data, hostile.file_name, mime_type=hostile.mime_type)
    except EmulatorError:
        return None
    return await user.wait_for_reply(answer_to_upload, timeout=90)


async def started(user: TelegramUserClient) -> tuple[str, bool]:
    answer = await user.wait_for_reply(answer_to_upload, timeout=90)
    return text_of(answer), is_started(text_of(answer))


async def upscale(user: TelegramUserClient, hostile: Hostile) -> tuple[str | None, bool]:
    await user.send_text("⬆️ Улучшить")
    await user.wait_for_reply(lambda m: "Отправьте" in text_of(m), timeout=15)
    answer = await send_file(user, hostile)
    if answer is None:
        return None, False
    return text_of(answer), is_started(text_of(answer))


async def edit(user: TelegramUserClient, hostile: Hostile) -> tuple[str | None, bool]:
    await user.send_text("✏️ Изменить")
    models = await user.wait_for_reply(lambda m: bool(m.reply_markup), timeout=15)
    await user.press_button(models.message_id, text=models.button("Nano-Banana").text)
    await user.wait_for_message(predicate=lambda m: "Отправьте от 1 до 4" in text_of(m), timeout=15)
    answer = await send_file(user, hostile)
    if answer is None:
        return None, False
    if "Изображений загружено" not in text_of(answer):
        return text_of(answer), False
    await user.send_text("сделай ярче")
    return await started(user)


async def add_text(user: TelegramUserClient, hostile: Hostile) -> tuple[str | None, bool]:
    await user.send_text("📝 Добавить текст")
    await user.wait_for_reply(lambda m: "Стоимость" in text_of(m), timeout=15)
    answer = await send_file(user, hostile)
    if answer is None:
        return None, False
    if texts.TEXT_ENTER not in text_of(answer):
        return text_of(answer), False
    await user.send_text("Привет 👋")
    await user.wait_for_reply(lambda m: "/skip" in text_of(m), timeout=15)
    await user.send_command("skip")
    return await started(user)


async def face_swap(user: TelegramUserClient, hostile: Hostile) -> tuple[str | None, bool]:
    await user.send_text("🔄 Заменить лицо")
    await user.wait_for_reply(lambda m: "источник" in text_of(m), timeout=15)
    answer = await send_file(user, hostile)
    if answer is None:
        return None, False
    if texts.FACESWAP_SEND_TARGET not in text_of(answer):
        return text_of(answer), False
    await user.send_photo(TARGET_PHOTO)
    return await started(user)


async def test_hostile_files_into_every_image_path(stack: ChaosStack, client: Bus, oracle: Oracle) -> None:
    files = corpus()
    modes = (upscale, edit, add_text, face_swap)
    cases = [(mode, hostile, await oracle.new_user()) for hostile in files for mode in modes]
    results = await asyncio.gather(*(mode(user, hostile) for mode, hostile, user in cases))

    refused_users = []
    for (mode, hostile, user), (answer, accepted) in zip(cases, results, strict=True):
        where = f"{mode.__name__} ← {hostile.name}"
        if answer is None:  # Telegram refused the upload (an empty file): nothing reached the bot
            refused_users.append(user.user_id)
            continue
        assert texts.INTERNAL_ERROR not in answer, f"{where}: {answer!r}"
        if hostile.must_refuse:
            assert not accepted and any(text in answer for text in CLEAR_REFUSALS), f"{where}: {answer!r}"
        if not accepted:
            refused_users.append(user.user_id)

    await oracle.verify(timeout=60)
    operations = await oracle.operations()
    assert not [op for op in operations.values() if op["user_id"] in refused_users]  # refusals cost nothing
    assert stack.service("gateway-bot").alive()
