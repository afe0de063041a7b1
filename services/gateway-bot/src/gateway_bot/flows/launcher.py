"""Starting a paid job: translate if the model wants English, reserve, publish, show the status.

Nothing is reserved before every input check has passed. The reservation carries the job and the job
is published right after it; should that publish not happen (the gateway dies, NATS fails it), billing
publishes the job itself a few seconds later (``billing.handoff``), so a reserved job always runs or
is released. The status message comes last and is only a courtesy; the job runs without it.
"""

from __future__ import annotations

import logging
import secrets
from typing import Protocol

from aiogram import Bot
from medialab_contracts.catalog import DEFAULT_DEADLINE_S, ModelSpec
from medialab_contracts.errors import InsufficientFunds, MediaLabError
from medialab_contracts.jobs import MAX_PROMPT_CHARS, MAX_SEED, MAX_VARIANTS, ImageSize, JobRequest
from medialab_contracts.media import MediaRef, upload_owner
from medialab_contracts.modes import Mode
from medialab_runtime.decoding import PixelBudget
from medialab_runtime.media_store import MediaNotFound, MediaStore
from pydantic import BaseModel, ConfigDict, Field

from gateway_bot import texts
from gateway_bot.clients.billing import BillingClient
from gateway_bot.clients.llm import LlmClient
from gateway_bot.delivery.progress import ProgressBoard
from gateway_bot.failures import ImageAspectUnsupported, ImageTooSmall, TranslationFailed, UploadExpired
from gateway_bot.imaging import fit_input
from gateway_bot.metrics import JOBS_REFUSED, JOBS_STARTED
from gateway_bot.storage.records import OrderRecords

log = logging.getLogger(__name__)


class Order(BaseModel):
    """What the user asked for, before translation and pricing turn it into a ``JobRequest``.

    A pydantic model so that an order waiting for «✅ Запустить» can wait in the FSM data as JSON.
    """

    model_config = ConfigDict(frozen=True)

    mode: Mode
    model: ModelSpec
    user_id: int
    chat_id: int
    prompt: str = ""
    fixed_prompt: str = ""  # model-facing English text put before the user's words, never translated
    negative: str | None = None
    size: ImageSize | None = None
    aspect_ratio: str | None = None
    inputs: tuple[MediaRef, ...] = ()
    overlay_text: str | None = None
    style_wish: str | None = None
    # The job a safety filter refused, which this order rephrases for free (billing checks it).
    rephrase_of: str | None = None
    # None: a new one is drawn at launch; «🔁 Повторить» draws one other than its work's.
    seed: int | None = None
    # Variants: images asked for in one job, each paid (1 unless the model offers more).
    images: int = Field(default=1, ge=1, le=MAX_VARIANTS)

    def reseeded(self, previous: int | None) -> Order:
        """The same order with a fresh seed, never ``previous`` (so a repeat is a new image)."""
        seed = previous
        while seed == previous:
            seed = new_seed()
        return self.model_copy(update={"seed": seed})

    @property
    def price(self) -> int:
        """The job's price by the catalog's rule for its size, the one billing checks."""
        return 0 if self.rephrase_of is not None else self.model.price_for(self.size, self.images)


class Launcher(Protocol):
    """What the handlers need to start an order: ``JobLauncher``, or a recording one in flow tests."""

    async def launch(self, bot: Bot, order: Order) -> object: ...


def new_seed() -> int:
    return secrets.randbelow(MAX_SEED + 1)


class JobLauncher:
    def __init__(
        self,
        billing: BillingClient,
        llm: LlmClient,
        progress: ProgressBoard,
        media: MediaStore,
        uploads: MediaStore,
        orders: OrderRecords,
        decoding: PixelBudget,
    ) -> None:
        self._media = media
        self._decoding = decoding
        self._uploads = uploads
        self._orders = orders
        self._billing = billing
        self._llm = llm
        self._progress = progress

    async def _english(self, text: str) -> tuple[str, bool]:
        try:
            reply = await self._llm.translate(text)
        except MediaLabError as error:
            log.warning("translation failed: %s", error.code)
            JOBS_REFUSED.labels("translate").inc()
            raise TranslationFailed(error.code.value) from None
        return reply.text[:MAX_PROMPT_CHARS], reply.translated

    async def _bind(self, ref: MediaRef) -> MediaRef:
        """An upload copied into ``media`` under its own name: the job's now, kept as long as results.

        Only uploads are copied (results are in ``media`` already); one the uploads bucket's TTL took
        is refused with a request to send it again.
        """
        if upload_owner(ref.object_name) is None or await self._media.exists(ref.object_name):
            return ref
        try:
            data = await self._uploads.get(ref.object_name)
        except MediaNotFound:
            raise UploadExpired(ref.object_name) from None
        return await self._media.put(
            ref.object_name,
            data,
            ref.content_type,
            width=ref.width,
            height=ref.height,
            file_name=ref.file_name,
        )

    async def _fit_input(self, model: ModelSpec, ref: MediaRef) -> tuple[MediaRef, str | None]:
        """The input within the model's documented limits (downscaled, with a note naming the size the
        provider will get) or refused."""
        if ref.width is None or ref.height is None:
            return ref, None
        if min(ref.width, ref.height) < model.min_input_side:
            raise ImageTooSmall(model.min_input_side)
        if model.max_input_aspect is not None and not model.aspect_fits(ref.width, ref.height):
            raise ImageAspectUnsupported(model.max_input_aspect)
        if model.input_fits(ref.width, ref.height) and not model.input_png_only:
            return ref, None
        # A PNG-only model's input is always prepared here, by the runner's own rule: a PNG over the
        # byte budget, a JPEG, or one with metadata would otherwise be re-encoded (and maybe
        # shrunk) by the runner after the user was told a size.
        data = await self._media.get(ref.object_name)
        prepared = await self._decoding.run(
            ref.width * ref.height, fit_input, data, ref.width, ref.height, model
        )
        if prepared is None:
            return ref, None
        width, height = prepared.width, prepared.height
        fitted = await self._media.put(
            f"{ref.object_name}-fit{width}x{height}",
            prepared.data,
            prepared.content_type,
            width=width,
            height=height,
        )
        if (width, height) == (ref.width, ref.height):
            return fitted, None
        log.info("input %s downscaled to %dx%d for %s", ref.object_name, width, height, model.model_id)
        return fitted, texts.input_downscaled(width, height, model)

    async def _can_pay(self, order: Order) -> None:
        """A translation is a paid LLM call: made only for a user whose balance covers the job."""
        account = await self._billing.balance(order.user_id)
        if account.available < order.price:
            raise InsufficientFunds(available=account.available, price=order.price)

    async def build(self, order: Order) -> tuple[JobRequest, str | None]:
        prompt, negative = order.prompt, order.negative
        notes: list[str] = []
        inputs: list[MediaRef] = []
        for ref in order.inputs:
            fitted, fit_note = await self._fit_input(order.model, await self._bind(ref))
            inputs.append(fitted)
            if fit_note:
                notes.append(fit_note)
        if order.model.wants_english and (prompt or negative):
            await self._can_pay(order)
            if prompt:
                prompt, translated = await self._english(prompt)
                if translated:
                    notes.append(texts.TRANSLATED_NOTE)
            if negative:
                negative, _ = await self._english(negative)
        full_prompt = " ".join(part for part in (order.fixed_prompt, prompt) if part)[:MAX_PROMPT_CHARS]
        job = order.model.job(
            order.mode,
            order.user_id,
            order.chat_id,
            free=order.rephrase_of is not None,
            prompt=full_prompt,
            negative_prompt=negative,
            size=order.size,
            aspect_ratio=order.aspect_ratio,
            inputs=inputs,
            overlay_text=order.overlay_text,
            style_wish=order.style_wish,
            seed=new_seed() if order.seed is None else order.seed,
            images=order.images,
            deadline_s=DEFAULT_DEADLINE_S[order.mode],
        )
        return job, "\n".join(notes) or None

    async def launch(self, bot: Bot, order: Order) -> JobRequest:
        job, note = await self.build(order)
        # Kept for «Переформулировать» should a safety filter refuse the prompt, and for «🖼 Мои работы»
        # once the result is out; stored before the reservation, so a failure here moves no money.
        await self._orders.save(
            job.job_id, order.model_copy(update={"seed": job.seed}).model_dump(mode="json")
        )
        # Billing prices the job from its own catalog and queues it once the money is held: only
        # billing may publish jobs. InsufficientFunds goes up to the errors router.
        await self._billing.reserve(job, rephrase_of=order.rephrase_of)
        JOBS_STARTED.labels(job.mode.value).inc()
        log.info("job %s started: %s %s", job.job_id, job.mode, job.model_id)
        try:
            await self._progress.open(bot, job, note)
        except Exception:
            log.warning("status of %s not shown; the job runs without it", job.job_id, exc_info=True)
        return job
