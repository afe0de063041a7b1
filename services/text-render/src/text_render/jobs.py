"""The M5 job: read the picture from ``media``, resolve the style, render, store the PNG.

A redelivered job renders again and overwrites the same object, so it is safe to repeat.
"""

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from medialab_contracts import subjects
from medialab_contracts.events import FailureReason, MediaOutput
from medialab_contracts.jobs import JobRequest
from medialab_contracts.llm import ParseStyleReply, ParseStyleRequest
from medialab_runtime.jobs import JobControl, JobResult
from medialab_runtime.media_store import ForeignInput, MediaNotFound, MediaStore, check_owner
from medialab_runtime.rpc import call
from nats.aio.client import Client

from text_render.errors import (
    CorruptImage,
    ImageTooLarge,
    NotAnImage,
    RenderError,
    TextInputError,
    TextTooLong,
)
from text_render.render import Limits, render_detailed
from text_render.settings import TextRenderSettings
from text_render.style_resolve import StyleAsker, resolve_style

log = logging.getLogger(__name__)

_REASONS: tuple[tuple[type[RenderError], FailureReason], ...] = (
    (NotAnImage, FailureReason.not_an_image),
    (CorruptImage, FailureReason.bad_image),
    (ImageTooLarge, FailureReason.image_too_large),  # decompression bombs included
    (TextTooLong, FailureReason.text_too_long),  # before its base class: the user can shorten it
    (TextInputError, FailureReason.bad_input),
)


def failure_reason(error: RenderError) -> FailureReason:
    return next((reason for kind, reason in _REASONS if isinstance(error, kind)), FailureReason.internal)


def result_name(job_id: str) -> str:
    return f"results/{job_id}/0.png"


class TextJobHandler:
    def __init__(self, nc: Client, media: MediaStore, settings: TextRenderSettings) -> None:
        self._nc = nc
        self._media = media
        self._settings = settings
        self._limits = Limits(max_bytes=settings.max_input_bytes, max_pixels=settings.max_input_pixels)

    def _llm_asker(self, trace_id: str) -> StyleAsker | None:
        if not self._settings.style_llm_enabled:
            return None

        async def ask(wish: str) -> Mapping[str, Any] | None:
            reply = await call(
                self._nc,
                subjects.LLM_PARSE_STYLE,
                ParseStyleRequest(wish=wish, trace_id=trace_id),
                ParseStyleReply,
                timeout=self._settings.style_llm_timeout_s,
            )
            return None if reply.fallback else reply.style

        return ask

    async def __call__(self, job: JobRequest, control: JobControl) -> JobResult:
        if len(job.inputs) != 1:
            return control.failed(FailureReason.bad_input, f"expected one picture, got {len(job.inputs)}")
        if not (job.overlay_text or "").strip():
            return control.failed(FailureReason.bad_input, "no text to draw")
        source = job.inputs[0]
        try:
            check_owner(job.inputs, job.user_id)
        except ForeignInput as error:
            return control.failed(error.reason, str(error))
        try:
            data = await self._media.get(source.object_name)
        except MediaNotFound:
            return control.failed(FailureReason.input_gone, f"input {source.object_name} is gone")
        style = await resolve_style(job.style_wish, self._llm_asker(job.trace_id))
        started = time.perf_counter()
        canvas = None if job.size is None else (job.size.width, job.size.height)
        try:
            rendered = await asyncio.to_thread(
                render_detailed, data, job.overlay_text or "", style, self._limits, canvas
            )
        except RenderError as error:
            log.info("render refused: %s (%s)", error.code, error)
            return control.failed(failure_reason(error), f"{error.code}: {error}")
        render_ms = round((time.perf_counter() - started) * 1000)
        width, height = rendered.size
        ref = await self._media.put(
            result_name(job.job_id),
            rendered.png,
            "image/png",
            width=width,
            height=height,
            file_name=f"{job.job_id}.png",
        )
        log.info("rendered %dx%d at %d px in %d ms", width, height, rendered.font_size, render_ms)
        output = MediaOutput(**ref.model_dump(exclude={"width", "height"}), width=width, height=height)
        return control.succeeded([output], provider_ms=render_ms)
