"""Input schemas of the emulated models, mirroring fal's published types (fal.md §9).

Unknown fields are ignored and values are coerced the way a FastAPI app on pydantic v2 does,
so a body the real endpoint accepts is accepted here and vice versa as far as the types go.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

AspectRatio = Literal["21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16"]
AspectRatioOrAuto = AspectRatio | Literal["auto"]
OutputFormat = Literal["jpeg", "png", "webp"]
SafetyTolerance = Literal["1", "2", "3", "4", "5", "6"]
Resolution = Literal["1K", "2K", "4K"]
SizePreset = Literal[
    "square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9"
]
SeedreamSizePreset = SizePreset | Literal["auto", "auto_2K", "auto_4K"]


class ModelInput(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ImageSize(ModelInput):
    width: int = Field(default=512, ge=1, le=14142)
    height: int = Field(default=512, ge=1, le=14142)


class NanoBananaInput(ModelInput):
    prompt: str
    num_images: int = Field(default=1, ge=1, le=4)
    aspect_ratio: AspectRatio = "1:1"
    output_format: OutputFormat = "png"
    sync_mode: bool = False
    limit_generations: bool = True
    seed: int | None = None
    safety_tolerance: SafetyTolerance = "4"


class NanoBananaEditInput(NanoBananaInput):
    image_urls: list[str] = Field(min_length=1)
    aspect_ratio: AspectRatioOrAuto = "auto"  # type: ignore[assignment]


class NanoBananaProInput(NanoBananaInput):
    aspect_ratio: AspectRatioOrAuto = "1:1"  # type: ignore[assignment]
    resolution: Resolution = "1K"
    enable_web_search: bool = False
    system_prompt: str = ""


class NanoBananaProEditInput(NanoBananaProInput):
    image_urls: list[str] = Field(min_length=1)
    aspect_ratio: AspectRatioOrAuto = "auto"


class SeedreamInput(ModelInput):
    prompt: str
    image_size: ImageSize | SeedreamSizePreset = Field(
        default_factory=lambda: ImageSize(width=2048, height=2048)
    )
    num_images: int = Field(default=1, ge=1, le=6)
    # fal gives no range for max_images; 6 mirrors num_images (UNCONFIRMED).
    max_images: int = Field(default=1, ge=1, le=6)
    seed: int | None = None
    sync_mode: bool = False
    enable_safety_checker: bool = True
    enhance_prompt_mode: Literal["standard", "fast"] = "standard"


SEEDREAM_MAX_INPUTS = 10
SEEDREAM_MAX_TOTAL_IMAGES = 15


class SeedreamEditInput(SeedreamInput):
    image_urls: list[str] = Field(min_length=1)
    # The edit default is UNCONFIRMED; None means "derive from the first input image".
    image_size: ImageSize | SeedreamSizePreset | None = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _total_images(self) -> Self:
        used_inputs = min(len(self.image_urls), SEEDREAM_MAX_INPUTS)
        if used_inputs + self.num_images * self.max_images > SEEDREAM_MAX_TOTAL_IMAGES:
            raise ValueError(
                "The total number of input images and output images must not exceed "
                f"{SEEDREAM_MAX_TOTAL_IMAGES}"
            )
        return self

    @property
    def used_image_urls(self) -> list[str]:
        """Seedream keeps only the last ten inputs."""
        return self.image_urls[-SEEDREAM_MAX_INPUTS:]


class RetoucherInput(ModelInput):
    image_url: str
    seed: int | None = None


class RecraftCrispInput(ModelInput):
    image_url: str
    sync_mode: bool = False
    enable_safety_checker: bool = True


class FluxDevInput(ModelInput):
    prompt: str
    image_size: ImageSize | SizePreset = "landscape_4_3"
    num_inference_steps: int = Field(default=28, ge=1, le=50)
    seed: int | None = None
    guidance_scale: float = Field(default=3.5, ge=1, le=20)
    sync_mode: bool = False
    num_images: int = Field(default=1, ge=1, le=4)
    enable_safety_checker: bool = True
    output_format: Literal["jpeg", "png"] = "jpeg"
    acceleration: Literal["none", "regular", "high"] = "none"


class RouterInput(ModelInput):
    """``openrouter/router``: ``model`` is any OpenRouter model string, not an enum."""

    prompt: str
    system_prompt: str | None = None
    # Required by fal's schema; an empty name is refused here too (fal's wording for it is
    # UNCONFIRMED: OpenRouter itself refuses an empty model).
    model: str = Field(min_length=1)
    reasoning: bool = False
    temperature: float = Field(default=1, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)


def validation_items(error: ValidationError) -> list[dict[str, Any]]:
    """pydantic errors in FastAPI's ``detail`` form (``loc`` starts with ``"body"``)."""
    items: list[dict[str, Any]] = []
    for raw in error.errors(include_url=False, include_context=False):
        item: dict[str, Any] = {
            "loc": ["body", *raw["loc"]],
            "msg": raw["msg"],
            "type": raw["type"],
        }
        if isinstance(raw.get("input"), str | int | float | bool):
            item["input"] = raw["input"]
        items.append(item)
    return items
