"""Sending a finished job to its chat: PNG documents with their buttons, prompt text, or the failure."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.types import BufferedInputFile
from medialab_contracts.events import JobFailed, JobSucceeded
from medialab_contracts.modes import Mode
from medialab_runtime.media_store import MediaNotFound, MediaStore

from gateway_bot import keyboards, texts
from gateway_bot.delivery.progress import ProgressBoard
from gateway_bot.imaging import preview_jpeg

log = logging.getLogger(__name__)

TELEGRAM_TEXT_LIMIT = 4096


def split_text(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at a paragraph, line or word break when there is one."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


class ResultSender:
    def __init__(
        self, media: MediaStore, progress: ProgressBoard, preview_min_bytes: int, preview_max_side: int
    ) -> None:
        self._media = media
        self._progress = progress
        self._preview_min_bytes = preview_min_bytes
        self._preview_max_side = preview_max_side

    async def succeeded(self, bot: Bot, event: JobSucceeded) -> None:
        if event.mode is Mode.prompt:
            await self._send_prompt(bot, event)
        else:
            await self._send_images(bot, event)
        await self._progress.remove(bot, event.job_id)

    async def failed(self, bot: Bot, event: JobFailed) -> None:
        text = texts.job_failed(event.mode, event.reason, event.job_id)
        if not await self._progress.finalise(bot, event.job_id, text):
            await bot.send_message(event.chat_id, text)

    async def _send_prompt(self, bot: Bot, event: JobSucceeded) -> None:
        body = f"{texts.WRITE_RESULT_HEADER}\n\n{event.text or ''}\n\n{texts.WRITE_RESULT_FOOTER}"
        pieces = split_text(body)
        for number, piece in enumerate(pieces, start=1):
            markup = keyboards.prompt_result(event.job_id) if number == len(pieces) else None
            # Plain text: the prompt is the model's words, not markup.
            await bot.send_message(event.chat_id, piece, parse_mode=None, reply_markup=markup)

    async def _send_images(self, bot: Bot, event: JobSucceeded) -> None:
        total = len(event.outputs)
        if total == 0:
            await bot.send_message(event.chat_id, texts.RESULT_MISSING)
            return
        for index, output in enumerate(event.outputs):
            try:
                data = await self._media.get(output.object_name)
            except MediaNotFound:
                log.error("result %s of %s is missing", output.object_name, event.job_id)
                await bot.send_message(event.chat_id, texts.RESULT_MISSING)
                continue
            if len(data) >= self._preview_min_bytes:
                preview = await asyncio.to_thread(preview_jpeg, data, self._preview_max_side)
                await bot.send_photo(
                    event.chat_id, BufferedInputFile(preview, filename=f"preview-{index + 1}.jpg")
                )
            await bot.send_document(
                event.chat_id,
                BufferedInputFile(data, filename=f"medialab-{event.job_id[:8]}-{index + 1}.png"),
                caption=texts.result_caption(event.mode, index, total),
                disable_content_type_detection=True,
                reply_markup=keyboards.image_result(event.job_id, index),
            )
