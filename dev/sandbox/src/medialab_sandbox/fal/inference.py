"""What each emulated model does with a validated input: real images in the CDN, or text.

Output shapes follow fal.md §9: ``{images, description}`` (nano-banana family),
``{images, seed}`` (seedream), ``{image, seed}`` (retoucher), ``{image}`` (recraft crisp, a
``File`` without width/height), flux's ``{images, timings, seed, has_nsfw_concepts, prompt}``
and openrouter/router's ``{output, usage}`` (plus ``reasoning`` when asked for).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from medialab_sandbox.fal.errors import ErrorReply, field_error, validation_error
from medialab_sandbox.fal.faults import FaultBook
from medialab_sandbox.fal.images import (
    CONTENT_TYPES,
    EXTENSIONS,
    SIZE_PRESETS,
    ImageFormat,
    ProbedImage,
    aspect_size,
    closest_aspect,
    fit_area,
    pro_aspect_size,
    probe,
    render,
)
from medialab_sandbox.fal.llm import LlmScript
from medialab_sandbox.fal.models import (
    FluxDevInput,
    ImageSize,
    ModelInput,
    NanoBananaEditInput,
    NanoBananaInput,
    NanoBananaProEditInput,
    NanoBananaProInput,
    RecraftCrispInput,
    RetoucherInput,
    RouterInput,
    SeedreamEditInput,
    SeedreamInput,
    validation_items,
)
from medialab_sandbox.fal.recorder import LlmCall, Recorder
from medialab_sandbox.fal.storage import FileStore, data_uri, decode_data_uri

# Seedream v4 keeps the pixel count between 960² and 4096² (fal.md §9).
SEEDREAM_MIN_AREA = 960 * 960
SEEDREAM_MAX_AREA = 4096 * 4096
SEEDREAM_DEFAULT_SIZE = (2048, 2048)

# Texts modelled on fal's error reference for inputs it cannot fetch or decode.
DOWNLOAD_FAILED = "Failed to download the file. Please check if the URL is accessible."
LOAD_FAILED = (
    "Failed to load the image. Please ensure the image file is not corrupted and is in a supported format."
)


class RunFailed(Exception):
    """A model run that ends with ``reply`` (e.g. an input image it could not load)."""

    def __init__(self, reply: ErrorReply) -> None:
        super().__init__(reply.message)
        self.reply = reply


@dataclass
class RunContext:
    request_id: str
    model_id: str
    run_seconds: float  # time the job spent IN_PROGRESS before running, reported in timings
    storage: FileStore
    faults: FaultBook
    llm: LlmScript
    recorder: Recorder

    def seed(self, requested: int | None) -> int:
        if requested is not None:
            return requested
        return int.from_bytes(hashlib.sha256(self.request_id.encode()).digest()[:6], "big")

    async def load_images(self, urls: list[str], field: str) -> list[ProbedImage]:
        return [await self.load_image(url, [field, index]) for index, url in enumerate(urls)]

    async def load_image(self, url: str, loc: list[str | int]) -> ProbedImage:
        """Inputs come only from our CDN or data URIs: no outside network, like a sandbox."""
        decoded = decode_data_uri(url)
        stored = self.storage.resolve_url(url)
        if decoded is not None:
            data = decoded[1]
        elif stored is not None:
            data = stored.data
        else:
            raise RunFailed(field_error(loc, DOWNLOAD_FAILED, "file_download_error", url[:200]))
        try:
            return await asyncio.to_thread(probe, data)
        except Exception as error:  # Pillow raises many types for bad bytes
            raise RunFailed(field_error(loc, LOAD_FAILED, "image_load_error")) from error

    async def publish_image(
        self,
        size: tuple[int, int],
        image_format: ImageFormat,
        *,
        sync_mode: bool,
        seed_text: str,
        with_size: bool = True,
    ) -> dict[str, Any]:
        """Render, store in the CDN (or inline for sync_mode) and describe as a fal Image/File."""
        width, height = size
        data = await asyncio.to_thread(
            render, width, height, image_format, seed_text, grainy=self.faults.grainy_output
        )
        content_type = CONTENT_TYPES[image_format]
        file_name = f"output.{EXTENSIONS[image_format]}"
        if sync_mode:
            url = data_uri(data, content_type)
        else:
            url = self.storage.url(self.storage.put(data, content_type, file_name))
        described: dict[str, Any] = {
            "url": url,
            "content_type": content_type,
            "file_name": file_name,
            "file_size": len(data),
        }
        if with_size:
            described.update(width=width, height=height)
        return described

    async def publish_images(
        self, count: int, size: tuple[int, int], image_format: ImageFormat, *, sync_mode: bool, seed_text: str
    ) -> list[dict[str, Any]]:
        """``count`` images of one request (fewer under a ShortResults fault), each seeded by
        ``seed_text`` and its index."""
        count = self.faults.images_returned(self.model_id, count)
        return [
            await self.publish_image(
                size, image_format, sync_mode=sync_mode, seed_text=f"{seed_text}|{index}"
            )
            for index in range(count)
        ]


Runner = Callable[[Any, RunContext], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class ModelSpec:
    input_type: type[ModelInput]
    run: Runner


async def _nano_images(inp: NanoBananaInput, ctx: RunContext, aspect: str) -> dict[str, Any]:
    if isinstance(inp, NanoBananaProInput):
        size = pro_aspect_size(aspect, inp.resolution)
    else:
        size = aspect_size(aspect)
    images = await ctx.publish_images(
        inp.num_images,
        size,
        inp.output_format,
        sync_mode=inp.sync_mode,
        seed_text=f"{ctx.model_id}|{inp.prompt}|{inp.seed}",
    )
    return {"images": images, "description": f"An image for: {inp.prompt[:80]}"}


async def nano_banana(inp: NanoBananaInput, ctx: RunContext) -> dict[str, Any]:
    aspect: str = inp.aspect_ratio  # nano-banana-pro also allows "auto": square without inputs
    return await _nano_images(inp, ctx, "1:1" if aspect == "auto" else aspect)


async def nano_banana_edit(
    inp: NanoBananaEditInput | NanoBananaProEditInput, ctx: RunContext
) -> dict[str, Any]:
    inputs = await ctx.load_images(inp.image_urls, "image_urls")
    aspect: str = inp.aspect_ratio
    if aspect == "auto":
        aspect = closest_aspect(inputs[0].width, inputs[0].height)
    return await _nano_images(inp, ctx, aspect)


def _seedream_size(size: ImageSize | str | None, fallback: tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, ImageSize):
        width, height = size.width, size.height
    elif size in SIZE_PRESETS:
        width, height = SIZE_PRESETS[size]
    elif size in ("auto_2K", "auto_4K"):
        area = 2048 * 2048 if size == "auto_2K" else SEEDREAM_MAX_AREA
        return fit_area(*fallback, min_area=area, max_area=area)
    else:  # None or "auto"
        width, height = fallback
    return fit_area(width, height, SEEDREAM_MIN_AREA, SEEDREAM_MAX_AREA)


async def _seedream_images(inp: SeedreamInput, ctx: RunContext, size: tuple[int, int]) -> dict[str, Any]:
    # Real seedream may return up to num_images × max_images; the emulator returns the lower
    # bound, num_images, so tests can count on it.
    seed = ctx.seed(inp.seed)
    images = await ctx.publish_images(
        inp.num_images, size, "png", sync_mode=inp.sync_mode, seed_text=f"{ctx.model_id}|{inp.prompt}|{seed}"
    )
    return {"images": images, "seed": seed}


async def seedream(inp: SeedreamInput, ctx: RunContext) -> dict[str, Any]:
    return await _seedream_images(inp, ctx, _seedream_size(inp.image_size, SEEDREAM_DEFAULT_SIZE))


SEEDREAM_INPUT_MIN_SIDE = 15
SEEDREAM_INPUT_MAX_PIXELS = 6000 * 6000
SEEDREAM_INPUT_MAX_ASPECT = 3


async def seedream_edit(inp: SeedreamEditInput, ctx: RunContext) -> dict[str, Any]:
    inputs = await ctx.load_images(inp.used_image_urls, "image_urls")
    # ByteDance's input limits for Seedream 4.0 (its snapshot's notes).
    for index, image in enumerate(inputs):
        short, long = sorted((image.width, image.height))
        if (
            short < SEEDREAM_INPUT_MIN_SIDE
            or image.width * image.height > SEEDREAM_INPUT_MAX_PIXELS
            or long > SEEDREAM_INPUT_MAX_ASPECT * short
        ):
            raise RunFailed(
                field_error(
                    ["image_urls", index],
                    f"Image dimensions {image.width}x{image.height} are out of range: sides over 14 px, "
                    "at most 6000x6000 pixels in total, aspect ratio between 1/3 and 3",
                )
            )
    size = _seedream_size(inp.image_size, (inputs[0].width, inputs[0].height))
    return await _seedream_images(inp, ctx, size)


async def retoucher(inp: RetoucherInput, ctx: RunContext) -> dict[str, Any]:
    source = await ctx.load_image(inp.image_url, ["image_url"])
    seed = ctx.seed(inp.seed)
    image = await ctx.publish_image(
        (source.width, source.height), "png", sync_mode=False, seed_text=f"retouch|{seed}"
    )
    return {"image": image, "seed": seed}


CRISP_MIN_SIDE = 32
CRISP_MAX_SIDE = 4096
CRISP_MAX_PIXELS = 16_000_000


async def recraft_crisp(inp: RecraftCrispInput, ctx: RunContext) -> dict[str, Any]:
    source = await ctx.load_image(inp.image_url, ["image_url"])
    if source.format != "PNG":
        raise RunFailed(field_error(["image_url"], "Image must be in PNG format"))
    # Recraft's own input limits (fal.md, "Input limits"): sides 32–4096 px, at most 16 MP.
    sides_ok = (
        CRISP_MIN_SIDE <= min(source.width, source.height)
        and max(source.width, source.height) <= CRISP_MAX_SIDE
    )
    if not sides_ok or source.width * source.height > CRISP_MAX_PIXELS:
        raise RunFailed(
            field_error(
                ["image_url"],
                f"Image dimensions {source.width}x{source.height} are out of range: each side must be "
                f"between {CRISP_MIN_SIDE} and {CRISP_MAX_SIDE} pixels and the image at most 16 MP",
            )
        )
    # Whether crisp answers PNG or WebP is UNCONFIRMED; the upscale_format knob forces WebP so
    # the runner's WebP→PNG conversion gets exercised.
    image = await ctx.publish_image(
        (source.width * 2, source.height * 2),
        ctx.faults.upscale_format or "png",
        sync_mode=inp.sync_mode,
        seed_text=f"upscale|{inp.image_url[-64:]}",
        with_size=False,
    )
    return {"image": image}


async def flux_dev(inp: FluxDevInput, ctx: RunContext) -> dict[str, Any]:
    if isinstance(inp.image_size, ImageSize):
        size = (inp.image_size.width, inp.image_size.height)
    else:
        size = SIZE_PRESETS[inp.image_size]
    seed = ctx.seed(inp.seed)
    images = await ctx.publish_images(
        inp.num_images,
        size,
        inp.output_format,
        sync_mode=inp.sync_mode,
        seed_text=f"flux|{inp.prompt}|{seed}",
    )
    return {
        "images": images,
        "timings": {"inference": ctx.run_seconds},
        "seed": seed,
        # fal's safety checker blanks what it flags and says so here.
        "has_nsfw_concepts": [ctx.faults.nsfw_flagged and inp.enable_safety_checker] * len(images),
        "prompt": inp.prompt,
    }


def tokens(text: str) -> int:
    """About four characters a token, as tokenizers of Latin text count; never zero for text."""
    return -(-len(text) // 4)


async def router_llm(inp: RouterInput, ctx: RunContext) -> dict[str, Any]:
    call = LlmCall(
        request_id=ctx.request_id,
        model=inp.model,
        prompt=inp.prompt,
        system_prompt=inp.system_prompt,
    )
    ctx.recorder.llm_calls.append(call)
    answer = ctx.llm.answer(call)
    if isinstance(answer, ErrorReply):
        raise RunFailed(answer)
    if inp.max_tokens is not None:
        answer = answer[: inp.max_tokens * 4]  # a model stops at max_tokens, mid-sentence if need be
    prompt_tokens = tokens(inp.prompt) + tokens(inp.system_prompt or "")
    completion_tokens = tokens(answer)
    output: dict[str, Any] = {
        "output": answer,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            # USD at gemini-2.5-flash list prices, $0.30 in and $2.50 out per million tokens.
            "cost": round((prompt_tokens * 0.3 + completion_tokens * 2.5) / 1_000_000, 7),
        },
    }
    if inp.reasoning:
        output["reasoning"] = f"The task is set by the system prompt; answering {len(inp.prompt)} characters."
    return output


MODELS: dict[str, ModelSpec] = {
    "fal-ai/nano-banana": ModelSpec(NanoBananaInput, nano_banana),
    "fal-ai/nano-banana/edit": ModelSpec(NanoBananaEditInput, nano_banana_edit),
    "fal-ai/nano-banana-pro": ModelSpec(NanoBananaProInput, nano_banana),
    "fal-ai/nano-banana-pro/edit": ModelSpec(NanoBananaProEditInput, nano_banana_edit),
    "fal-ai/bytedance/seedream/v4/text-to-image": ModelSpec(SeedreamInput, seedream),
    "fal-ai/bytedance/seedream/v4/edit": ModelSpec(SeedreamEditInput, seedream_edit),
    "fal-ai/retoucher": ModelSpec(RetoucherInput, retoucher),
    "fal-ai/recraft/upscale/crisp": ModelSpec(RecraftCrispInput, recraft_crisp),
    "fal-ai/flux/dev": ModelSpec(FluxDevInput, flux_dev),
    "openrouter/router": ModelSpec(RouterInput, router_llm),
}


async def run_model(
    spec: ModelSpec, body: dict[str, Any], ctx: RunContext, forced_error: ErrorReply | None
) -> dict[str, Any] | ErrorReply:
    """Validate like the real app, then fail as armed or produce the model's output."""
    try:
        inp = spec.input_type.model_validate(body)
    except ValidationError as error:
        return validation_error(validation_items(error))
    if forced_error is not None:
        return forced_error
    try:
        return await spec.run(inp, ctx)
    except RunFailed as failure:
        return failure.reply
