"""A job's fields → the input JSON of its fal model (shared/providers/fal.md §9), in one place.

The runner knows no modes or languages: the gateway already chose the model, wrote (and where
needed translated) the prompt and picked the size. Here sizes become what each model accepts:
- nano-banana family: the closest ``aspect_ratio`` of its list; -pro also a ``resolution``, the
  catalog's tier of the size (the one the job was priced at);
- seedream and flux: ``image_size {width, height}`` (seedream's pixel count kept in 960²…4096²);
- an aspect ratio alone (extended form) becomes the nano-banana ratio, or a seedream/flux size.
No model of the catalog takes ``negative_prompt`` (fal.md §9), so it is not sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from medialab_contracts.catalog import default_catalog
from medialab_contracts.jobs import JobRequest
from medialab_runtime.images import MAX_UPLOAD_BYTES

NANO_ASPECTS = ("21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16")
SEEDREAM_MIN_AREA = 960 * 960
SEEDREAM_MAX_AREA = 4096 * 4096
ASPECT_ONLY_LONG_SIDE = {"seedream": 2048, "flux": 1024}


# Tiers are part of the catalog's shape, not of its prices: the defaults name them.
_CATALOG = default_catalog()


class UnsupportedJob(ValueError):
    """The job cannot be expressed for its model (unknown model, missing prompt or inputs)."""


Builder = Callable[[JobRequest, list[str]], dict[str, Any]]


@dataclass(frozen=True)
class ModelInputs:
    """How a model takes images: ``image_urls`` (0 = none), ``image_url`` (1); PNG only or not and the
    bytes one may have as sent come from the catalog (``ModelSpec``), the rule the gateway fitted
    the inputs by, so what it told the user is what is sent."""

    min_images: int
    max_images: int
    build: Builder
    png_only: bool
    max_bytes: int


def _inputs(model_id: str, min_images: int, max_images: int, build: Builder) -> ModelInputs:
    (model,) = (m for m in _CATALOG.models if m.model_id == model_id)
    budget = model.max_input_bytes or MAX_UPLOAD_BYTES
    return ModelInputs(min_images, max_images, build, model.input_png_only, budget)


def _ratio(aspect: str) -> float:
    width, height = aspect.split(":")
    return int(width) / int(height)


def closest_aspect(ratio: float) -> str:
    """The nano-banana aspect closest to ``ratio`` on a log scale (3:2 and 2:3 are equally far from 1:1)."""
    return min(NANO_ASPECTS, key=lambda aspect: abs(math.log(_ratio(aspect)) - math.log(ratio)))


def _wanted_ratio(job: JobRequest) -> float | None:
    if job.aspect_ratio is not None:
        width, height = job.aspect_ratio.split(":")
        if int(width) > 0 and int(height) > 0:
            return int(width) / int(height)
    if job.size is not None:
        return job.size.width / job.size.height
    return None


def _resolution(job: JobRequest) -> str | None:
    model = _CATALOG.get(job.model_key)
    if job.size is None or model is None or (tier := model.resolution(job.size)) is None:
        return None
    return tier.key


def _size(job: JobRequest, family: str) -> dict[str, int] | None:
    if job.size is not None:
        width, height = job.size.width, job.size.height
    elif (ratio := _wanted_ratio(job)) is not None:
        long_side = ASPECT_ONLY_LONG_SIDE[family]
        width, height = (
            (long_side, round(long_side / ratio)) if ratio >= 1 else (round(long_side * ratio), long_side)
        )
    else:
        return None
    if family == "seedream":
        width, height = _fit_area(width, height, SEEDREAM_MIN_AREA, SEEDREAM_MAX_AREA)
    return {"width": width, "height": height}


def _fit_area(width: int, height: int, low: int, high: int) -> tuple[int, int]:
    area = width * height
    if low <= area <= high:
        return width, height
    factor = math.sqrt((low if area < low else high) / area)
    rounding = math.ceil if area < low else math.floor
    return int(rounding(width * factor)), int(rounding(height * factor))


def _prompt(job: JobRequest) -> str:
    prompt = job.prompt.strip()
    if not prompt:
        raise UnsupportedJob("the model needs a prompt")
    return prompt


def _seeded(job: JobRequest, arguments: dict[str, Any]) -> dict[str, Any]:
    """Every generating model of the catalog takes ``seed`` (their snapshots); the upscaler does not."""
    return arguments if job.seed is None else {**arguments, "seed": job.seed}


def _nano(job: JobRequest, urls: list[str], *, pro: bool) -> dict[str, Any]:
    # limit_generations: one round of generation, ignoring a prompt that asks for several images
    # (fal bills each image).
    arguments: dict[str, Any] = {
        "prompt": _prompt(job),
        "num_images": job.images,  # variants: fal bills each image, billing held each
        "output_format": "png",
        "limit_generations": True,
    }
    if urls:
        arguments["image_urls"] = urls
    if (ratio := _wanted_ratio(job)) is not None:
        arguments["aspect_ratio"] = closest_aspect(ratio)
    if pro and (resolution := _resolution(job)) is not None:
        arguments["resolution"] = resolution
    return _seeded(job, arguments)


def _seedream(job: JobRequest, urls: list[str]) -> dict[str, Any]:
    # num_images: separate generations, exactly that many images (max_images would let each
    # generation return a varying number, which no price could be shown for).
    arguments: dict[str, Any] = {"prompt": _prompt(job), "num_images": job.images}
    if urls:
        arguments["image_urls"] = urls
    if (size := _size(job, "seedream")) is not None:
        arguments["image_size"] = size
    return _seeded(job, arguments)


def _flux(job: JobRequest, urls: list[str]) -> dict[str, Any]:
    # No limit_generations: flux/dev has no such field (its snapshot); num_images alone bounds it.
    arguments: dict[str, Any] = {"prompt": _prompt(job), "num_images": 1, "output_format": "png"}
    if (size := _size(job, "flux")) is not None:
        arguments["image_size"] = size
    return _seeded(job, arguments)


def _single_image(job: JobRequest, urls: list[str]) -> dict[str, Any]:
    return {"image_url": urls[0]}


_MODELS: dict[str, tuple[int, int, Builder]] = {
    "fal-ai/nano-banana": (0, 0, lambda job, urls: _nano(job, urls, pro=False)),
    "fal-ai/nano-banana-pro": (0, 0, lambda job, urls: _nano(job, urls, pro=True)),
    "fal-ai/bytedance/seedream/v4/text-to-image": (0, 0, _seedream),
    "fal-ai/flux/dev": (0, 0, _flux),
    "fal-ai/nano-banana/edit": (1, 4, lambda job, urls: _nano(job, urls, pro=False)),
    "fal-ai/nano-banana-pro/edit": (1, 4, lambda job, urls: _nano(job, urls, pro=True)),
    "fal-ai/bytedance/seedream/v4/edit": (1, 4, _seedream),
    "fal-ai/retoucher": (1, 1, _single_image),
    "fal-ai/recraft/upscale/crisp": (1, 1, _single_image),
}
MODELS: dict[str, ModelInputs] = {model_id: _inputs(model_id, *shape) for model_id, shape in _MODELS.items()}


def model_inputs(job: JobRequest) -> ModelInputs:
    spec = MODELS.get(job.model_id)
    if spec is None:
        raise UnsupportedJob(f"model {job.model_id!r} is not run by fal-runner")
    if not spec.min_images <= len(job.inputs) <= spec.max_images:
        raise UnsupportedJob(f"{job.model_id} takes {spec.min_images}–{spec.max_images} images")
    return spec


def build_arguments(job: JobRequest, image_urls: list[str]) -> dict[str, Any]:
    """The JSON body to submit for ``job``, its input images already uploaded to ``image_urls``."""
    return model_inputs(job).build(job, image_urls)
