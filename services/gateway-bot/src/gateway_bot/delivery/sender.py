"""Sending a finished job to its chat: PNG documents with their buttons, prompt text, or the failure.

Several images (variants) go out as one album of documents, followed by one message with a row of
buttons per image: Telegram albums carry no inline keyboards.

Each part of a result (its preview, its document) is recorded in KV once it is out, so a delivery
retried after a failure half-way sends only what is missing. Each document sent is kept for «🖼 Мои
работы» with the job's order and the file_id Telegram gave it. A result that cannot be delivered at all
(gone, unreadable, over Telegram's limit even downscaled, refused with 413) is final, never retried:
the job is refunded and the user told why. So is one the consumer gives up on (``undelivered``): the
chat refuses the bot, Telegram refuses the message for good, or an error lasted through every attempt.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramEntityTooLarge
from aiogram.types import BufferedInputFile, InputMediaDocument, MediaUnion, Message
from medialab_contracts.billing import UNDELIVERABLE
from medialab_contracts.errors import UnknownJob
from medialab_contracts.events import FailureReason, JobFailed, JobSucceeded
from medialab_contracts.media import MediaRef
from medialab_contracts.modes import Mode
from medialab_runtime.media_store import MediaNotFound, MediaStore

from gateway_bot import keyboards, texts
from gateway_bot.clients.billing import BillingClient
from gateway_bot.delivery.fitting import FittedResult, Undeliverable, UnreadableResult, fit_document
from gateway_bot.delivery.progress import ProgressBoard
from gateway_bot.flows.launcher import Order
from gateway_bot.imaging import preview_jpeg
from gateway_bot.metrics import UNDELIVERED_REFUNDS
from gateway_bot.storage.records import OrderRecords, SentParts
from gateway_bot.storage.works import KeptOutput, KeptWorks

log = logging.getLogger(__name__)

TELEGRAM_TEXT_LIMIT = 4096
SENT = "sent"  # the outcome recorded for a part that is out
ALBUM_BUTTONS = "buttons"  # the part: the message of per-image buttons under an album
# Modes whose orders never carry the user's words (M6 face swap, M7 upscale).
PROMPTLESS_MODES = frozenset({Mode.faceswap, Mode.upscale})


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
        self,
        media: MediaStore,
        progress: ProgressBoard,
        billing: BillingClient,
        parts: SentParts,
        orders: OrderRecords,
        works: KeptWorks,
        *,
        preview_min_bytes: int,
        preview_max_side: int,
        max_document_bytes: int,
    ) -> None:
        self._media = media
        self._progress = progress
        self._billing = billing
        self._parts = parts
        self._orders = orders
        self._works = works
        self._preview_min_bytes = preview_min_bytes
        self._preview_max_side = preview_max_side
        self._max_document_bytes = max_document_bytes

    async def succeeded(self, bot: Bot, event: JobSucceeded) -> None:
        if event.mode is Mode.prompt:
            await self._send_prompt(bot, event)
        else:
            await self._send_images(bot, event)
        await self._progress.remove(bot, event.job_id)

    async def failed(self, bot: Bot, event: JobFailed) -> None:
        if event.reason is FailureReason.cancelled:
            # Its owner pressed ❌ Отменить under the status; that press may have said it already.
            await self._progress.finalise(bot, event.job_id, texts.job_cancelled(event.mode, event.job_id))
            return
        order = await self._orders.load(event.job_id)
        prompted = _has_prompt(event.mode, order)
        text = texts.job_failed(event.mode, event.reason, event.job_id, prompted=prompted)
        if event.reason is FailureReason.moderation and prompted and order is not None:
            # A new message, not the status turned: it carries the offer to rephrase.
            await self._progress.remove(bot, event.job_id)
            await bot.send_message(event.chat_id, text, reply_markup=keyboards.rephrase(event.job_id))
            return
        await self._tell(bot, event.chat_id, event.job_id, text)

    async def undelivered(self, bot: Bot, event: JobSucceeded, cause: Undeliverable) -> None:
        """Give back a result that will never reach its chat, and say so once if the chat still takes
        messages (a failure to tell is only logged: the money is back either way). A result of which a
        document is out already is paid for, as when one image of several is lost; a failed refund
        raises, for the caller to try again."""
        out = [
            index
            for index in range(len(event.outputs))
            if await self._parts.outcome(event.job_id, f"{index}.document") == SENT
        ]
        if out:
            log.warning(
                "job %s undelivered (%s) after %d result(s) went out: not refunded",
                event.job_id,
                cause,
                len(out),
            )
            return
        await self._give_back(event, cause)
        if cause is Undeliverable.chat_refused:
            return
        try:
            await self._tell(
                bot,
                event.chat_id,
                event.job_id,
                texts.result_undeliverable(event.mode, cause, event.job_id, self._limit_mb),
            )
        except Exception:
            log.warning(
                "job %s refunded (%s); telling chat %s failed",
                event.job_id,
                cause,
                event.chat_id,
                exc_info=True,
            )

    async def _tell(self, bot: Bot, chat_id: int, job_id: str, text: str) -> None:
        """The final word on a job: in its status message, or a new one when there is none."""
        if not await self._progress.finalise(bot, job_id, text):
            await bot.send_message(chat_id, text)

    async def _send_prompt(self, bot: Bot, event: JobSucceeded) -> None:
        body = f"{texts.WRITE_RESULT_HEADER}\n\n{event.text or ''}\n\n{texts.WRITE_RESULT_FOOTER}"
        pieces = split_text(body)
        for number, piece in enumerate(pieces, start=1):
            markup = keyboards.prompt_result(event.job_id) if number == len(pieces) else None
            # Plain text: the prompt is the model's words, not markup.
            await bot.send_message(event.chat_id, piece, parse_mode=None, reply_markup=markup)

    async def _send_images(self, bot: Bot, event: JobSucceeded) -> None:
        total = len(event.outputs)
        order = await self._orders.load(event.job_id)
        if total > 1:
            outcomes = await self._send_album(bot, event, order)
        else:
            outcomes = [
                await self._send_output(bot, event, index, output, order)
                for index, output in enumerate(event.outputs)
            ]
        lost = [(index, outcome) for index, outcome in enumerate(outcomes) if outcome is not None]
        if total == 0 or len(lost) == total:
            cause = lost[0][1] if lost else Undeliverable.missing
            await self._refund(bot, event, cause)
            return
        for index, cause in lost:
            await bot.send_message(
                event.chat_id, texts.result_part_undeliverable(index, total, cause, self._limit_mb)
            )

    async def _send_output(
        self, bot: Bot, event: JobSucceeded, index: int, output: MediaRef, order: dict[str, Any] | None
    ) -> Undeliverable | None:
        """Send one result (preview, then document) unless it is out already; why not, if it cannot be."""
        part = f"{index}.document"
        recorded = await self._parts.outcome(event.job_id, part)
        if recorded is not None:
            return None if recorded == SENT else Undeliverable(recorded)
        outcome = await self._deliver_output(bot, event, index, output, order)
        await self._parts.record(event.job_id, part, SENT if outcome is None else outcome.value)
        return outcome

    async def _send_album(
        self, bot: Bot, event: JobSucceeded, order: dict[str, Any] | None
    ) -> list[Undeliverable | None]:
        """Variants: the deliverable results as one album (a single one as a plain result), then the
        buttons; each result's outcome is recorded, so a retried delivery sends only what is missing."""
        parts = [f"{index}.document" for index in range(len(event.outputs))]
        recorded = [await self._parts.outcome(event.job_id, part) for part in parts]
        if None in recorded:
            outcomes = await self._deliver_album(bot, event, order)
            for part, outcome in zip(parts, outcomes, strict=True):
                await self._parts.record(event.job_id, part, SENT if outcome is None else outcome.value)
        else:
            outcomes = [None if outcome == SENT else Undeliverable(str(outcome)) for outcome in recorded]
        delivered = [index for index, outcome in enumerate(outcomes) if outcome is None]
        if len(delivered) > 1 and await self._parts.outcome(event.job_id, ALBUM_BUTTONS) is None:
            await bot.send_message(
                event.chat_id,
                texts.variants_buttons(len(delivered)),
                reply_markup=keyboards.variant_results(event.job_id, delivered),
            )
            await self._parts.record(event.job_id, ALBUM_BUTTONS, SENT)
        return outcomes

    async def _deliver_album(
        self, bot: Bot, event: JobSucceeded, order: dict[str, Any] | None
    ) -> list[Undeliverable | None]:
        prepared = [await self._prepare(event, output) for output in event.outputs]
        ready = {i: p for i, p in enumerate(prepared) if not isinstance(p, Undeliverable)}
        outcomes = [p if isinstance(p, Undeliverable) else None for p in prepared]
        if len(ready) == 1:
            [(index, (data, fitted))] = ready.items()
            outcomes[index] = await self._send_document(bot, event, index, data, fitted, order)
        elif ready and not await self._send_media_group(bot, event, ready, order):
            outcomes = [Undeliverable.too_large if i in ready else o for i, o in enumerate(outcomes)]
        return outcomes

    async def _send_media_group(
        self,
        bot: Bot,
        event: JobSucceeded,
        ready: dict[int, tuple[bytes, FittedResult]],
        order: dict[str, Any] | None,
    ) -> bool:
        """One album of the ready results; False if Telegram refused it as too large."""
        total = len(event.outputs)
        media: list[MediaUnion] = [
            InputMediaDocument(
                media=BufferedInputFile(fitted.data, filename=self._file_name(event, index, fitted)),
                caption=texts.result_caption(event.mode, index, total, fitted, self._limit_mb),
                disable_content_type_detection=True,
            )
            for index, (_, fitted) in ready.items()
        ]
        try:
            messages = await bot.send_media_group(event.chat_id, media=media)
        except TelegramEntityTooLarge:
            log.error("Telegram refused the album of %s as too large", event.job_id)
            return False
        if order is not None:
            for (index, (data, _)), message in zip(ready.items(), messages, strict=False):
                await self._keep(event, index, event.outputs[index], order, data, message)
        return True

    @property
    def _limit_mb(self) -> int:
        return self._max_document_bytes // (1024 * 1024)

    @staticmethod
    def _file_name(event: JobSucceeded, index: int, fitted: FittedResult) -> str:
        return f"medialab-{event.job_id[:8]}-{index + 1}.{fitted.extension}"

    async def _prepare(
        self, event: JobSucceeded, output: MediaRef
    ) -> tuple[bytes, FittedResult] | Undeliverable:
        """The result's bytes and the document made of them, or why it cannot be sent."""
        try:
            data = await self._media.get(output.object_name)
        except MediaNotFound:
            log.error("result %s of %s is missing", output.object_name, event.job_id)
            return Undeliverable.missing
        try:
            fitted = await asyncio.to_thread(fit_document, data, self._max_document_bytes)
        except UnreadableResult as error:
            log.error("result %s of %s is unreadable: %s", output.object_name, event.job_id, error)
            return Undeliverable.unreadable
        if fitted is None:
            log.error("result %s of %s does not fit %d bytes", output.object_name, event.job_id, len(data))
            return Undeliverable.too_large
        return data, fitted

    async def _deliver_output(
        self, bot: Bot, event: JobSucceeded, index: int, output: MediaRef, order: dict[str, Any] | None
    ) -> Undeliverable | None:
        prepared = await self._prepare(event, output)
        if isinstance(prepared, Undeliverable):
            return prepared
        data, fitted = prepared
        return await self._send_document(bot, event, index, data, fitted, order)

    async def _send_document(
        self,
        bot: Bot,
        event: JobSucceeded,
        index: int,
        data: bytes,
        fitted: FittedResult,
        order: dict[str, Any] | None,
    ) -> Undeliverable | None:
        """One result: its preview (when heavy), then its document with its buttons."""
        if len(data) >= self._preview_min_bytes:
            await self._send_preview(bot, event, index, data)
        caption = texts.result_caption(event.mode, index, len(event.outputs), fitted, self._limit_mb)
        try:
            sent = await bot.send_document(
                event.chat_id,
                BufferedInputFile(fitted.data, filename=self._file_name(event, index, fitted)),
                caption=caption,
                disable_content_type_detection=True,
                reply_markup=keyboards.image_result(event.job_id, index),
            )
        except TelegramEntityTooLarge:
            # Telegram's limit is below ours (a setting out of date): sending again cannot help.
            log.error("Telegram refused %d bytes of %s as too large", len(fitted.data), event.job_id)
            return Undeliverable.too_large
        if order is not None:
            await self._keep(event, index, event.outputs[index], order, data, sent)
        return None

    async def _keep(
        self,
        event: JobSucceeded,
        index: int,
        output: MediaRef,
        order: dict[str, Any],
        data: bytes,
        sent: Message,
    ) -> None:
        """Keep the output for «🖼 Мои работы»; never fails the delivery (the document is out already,
        and a retry would send it twice), so a work not kept is only logged."""
        if sent.document is None:
            return
        try:
            parsed = Order.model_validate(order)
            await self._works.keep(
                user_id=event.user_id,
                job_id=event.job_id,
                created_at=event.at,
                order=order,
                price=parsed.price,
                seed=parsed.seed,
                output=KeptOutput(
                    index=index,
                    ref=MediaRef.model_validate(output.model_dump()),
                    file_id=sent.document.file_id,
                ),
                data=data,
                inputs=parsed.inputs,
            )
        except Exception:
            log.warning("result %d of %s not kept in the works bucket", index, event.job_id, exc_info=True)

    async def _send_preview(self, bot: Bot, event: JobSucceeded, index: int, data: bytes) -> None:
        part = f"{index}.preview"
        if await self._parts.outcome(event.job_id, part) is not None:
            return
        preview = await asyncio.to_thread(preview_jpeg, data, self._preview_max_side)
        try:
            await bot.send_photo(
                event.chat_id, BufferedInputFile(preview, filename=f"preview-{index + 1}.jpg")
            )
        except TelegramEntityTooLarge:
            log.warning("preview of %s refused as too large; the document still goes", event.job_id)
        await self._parts.record(event.job_id, part, SENT)

    async def _refund(self, bot: Bot, event: JobSucceeded, cause: Undeliverable) -> None:
        await self._give_back(event, cause)
        await self._tell(
            bot,
            event.chat_id,
            event.job_id,
            texts.result_undeliverable(event.mode, cause, event.job_id, self._limit_mb),
        )

    async def _give_back(self, event: JobSucceeded, cause: Undeliverable) -> None:
        """Refund the job (billing moves its money at most once, however often this is asked)."""
        try:
            await self._billing.refund(event.job_id, f"{UNDELIVERABLE}_{cause.value}", event.trace_id)
        except UnknownJob:
            log.warning("job %s has no reservation: nothing to refund", event.job_id)
            return
        log.info("job %s refunded: its result is undeliverable (%s)", event.job_id, cause)
        UNDELIVERED_REFUNDS.labels(cause.value).inc()


def _has_prompt(mode: Mode, order: dict[str, Any] | None) -> bool:
    """Whether the user wrote a prompt for the job, which a refusal can ask to rephrase. Without its
    order (expired), only the modes that never take one are known to have none."""
    if order is not None:
        return bool(order.get("prompt"))
    return mode not in PROMPTLESS_MODES
