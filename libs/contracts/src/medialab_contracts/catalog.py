"""The catalog of models, formats and prices (SPEC.md), as data.

Prices are integer kopecks and configurable: ``default_catalog({"nbp": 3000})`` overrides a model's
price by its key. Keys are short because they travel in Telegram callback data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from medialab_contracts.jobs import MAX_VARIANTS, ImageSize, JobRequest
from medialab_contracts.modes import Mode, Provider, Runner
from medialab_contracts.money import Kopecks, rubles


class ImageFormat(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str = Field(pattern=r"^[a-z0-9]{1,12}$")  # travels in callback data
    title: str
    width: int
    height: int
    resolution: str | None = None  # the model's resolution tier, for a model that has them

    @property
    def size_label(self) -> str:
        return f"{self.width}×{self.height}"


FORMATS: tuple[ImageFormat, ...] = (
    ImageFormat(key="vertical", title="Вертикальное", width=1472, height=2048),
    ImageFormat(key="square", title="Квадрат", width=1792, height=1792),
    ImageFormat(key="horizontal", title="Горизонтальное", width=2048, height=1472),
)
# Nano-banana has no size parameter: it answers about 1 MP at the aspect ratio nearest the one asked
# (Gemini 2.5 Flash Image: 3:4 864×1184, 1:1 1024×1024, 4:3 1184×864), so its buttons say that.
NANO_FORMATS: tuple[ImageFormat, ...] = (
    ImageFormat(key="vertical", title="Вертикальное 3:4", width=864, height=1184),
    ImageFormat(key="square", title="Квадрат 1:1", width=1024, height=1024),
    ImageFormat(key="horizontal", title="Горизонтальное 4:3", width=1184, height=864),
)
# Nano Banana Pro (Gemini 3 Pro Image) answers a fixed size per aspect ratio and ``resolution``
# (Google's image generation docs: 3:4 896×1200 / 1792×2400 / 3584×4800, 1:1 1024² / 2048² / 4096²,
# 4:3 1200×896 / 2400×1792 / 4800×3584); its buttons offer each ratio at each resolution.
_NANO_PRO_SIDES: dict[str, tuple[int, int]] = {"1K": (896, 1200), "2K": (1792, 2400), "4K": (3584, 4800)}
# Seedream takes any width×height whose area lies in 960²…4096²: a 2K and a 4K size per ratio.
_SEEDREAM_SIDES: dict[str, tuple[int, int]] = {"2K": (1536, 2048), "4K": (3072, 4096)}


def _tiered_formats(
    sides: Mapping[str, tuple[int, int]], square: Mapping[str, int]
) -> tuple[ImageFormat, ...]:
    formats = []
    for tier, (short, long) in sides.items():
        suffix = tier.lower()
        formats += [
            ImageFormat(
                key=f"v{suffix}", title="Вертикальное 3:4", width=short, height=long, resolution=tier
            ),
            ImageFormat(
                key=f"s{suffix}",
                title="Квадрат 1:1",
                width=square[tier],
                height=square[tier],
                resolution=tier,
            ),
            ImageFormat(
                key=f"h{suffix}", title="Горизонтальное 4:3", width=long, height=short, resolution=tier
            ),
        ]
    return tuple(formats)


# Marketplace product-card presets (sources read 2026-12-07):
# - Wildberries: vertical 3:4, at least 900×1200 px, no side over 8000 px
#   (https://blog.promopult.ru/marketplejsy/kak-oformit-foto-dlya-kartochki-tovara-na-wildberries.html,
#   https://sellerrocket.one/wildberries/oformleniyu-kartochek-tovara-razmer-format-forma.html);
# - Ozon: 3:4 is the ratio its search shows whole, other ratios get stretched or margins
#   (https://docs.ozon.com/global/en/products/upload/adding-content/images); 1200×1600 is our pick of
#   a 3:4 size with every side a multiple of 8 (the "8-point grid" that page names);
# - Yandex Market: no fixed ratio, sides of at least 600 px for the zoomed view
#   (https://yandex.com/support/partnermarket/picture.html); a 1200×1200 square is our pick.
# Only a model that can be asked for exactly these pixels offers them (Seedream, any size in its area
# range), and M5 crops its picture to them locally; nano-banana's fixed sizes miss them (896×1200).
MARKETPLACE_FORMATS: tuple[ImageFormat, ...] = (
    ImageFormat(key="wb", title="Wildberries 3:4", width=900, height=1200),
    ImageFormat(key="ozon", title="Ozon 3:4", width=1200, height=1600),
    ImageFormat(key="ym", title="Яндекс Маркет 1:1", width=1200, height=1200),
)
NANO_PRO_FORMATS = _tiered_formats(_NANO_PRO_SIDES, {"1K": 1024, "2K": 2048, "4K": 4096})
SEEDREAM_FORMATS = _tiered_formats(_SEEDREAM_SIDES, {"2K": 2048, "4K": 4096}) + MARKETPLACE_FORMATS
DEFAULT_EDIT_SIZE = (1024, 1024)


class Resolution(BaseModel):
    """A price tier of a model that bills by output size: a size belongs to the first tier holding
    its pixel count (the last tier takes anything larger).

    It costs ``factor`` times the model's price (the provider's own multiplier), unless ``price``
    is set (``PRICES`` key ``<model>@<tier>``, e.g. ``"nbp@4K"``).
    """

    model_config = ConfigDict(frozen=True)

    key: str = Field(pattern=r"^[1-9]K$")
    max_pixels: int = Field(gt=0)
    factor: int = Field(default=1, ge=1, le=100)
    price: Kopecks | None = None


class ModelSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str = Field(pattern=r"^[a-z0-9_]{1,12}$")
    model_id: str
    title: str
    provider: Provider
    runner: Runner
    modes: frozenset[Mode]
    price: Kopecks
    # What the provider bills us for one job at the base tier, in millionths of a US dollar (its
    # list price; tiers scale it by their factor). 0: not billed (local), or no list price known.
    cost_micro_usd: int = Field(default=0, ge=0, le=100_000_000)
    aliases: tuple[str, ...] = ()
    wants_english: bool = False
    max_inputs: int = 0
    offers_formats: bool = False
    # What the model's API reads: no wish is asked for a prompt-less model (the retoucher), and
    # ``negative=`` is refused for one without a negative prompt (none in the catalog, fal.md §9).
    takes_prompt: bool = True
    takes_negative: bool = False
    # The provider's documented limits on each input image: larger ones are downscaled before the
    # job (the user is told), smaller ones refused.
    min_input_side: int = 1
    max_input_side: int | None = None
    max_input_pixels: int | None = None
    # The longest side over the shortest an input may have: no downscale fixes it, so it is refused.
    max_input_aspect: float | None = None
    # A model that reads PNG inputs only, and the bytes one input may have as sent: the gateway fits
    # such inputs (downscaled if PNG needs it) before the job, so the user's note names the size the
    # provider gets, and fal-runner sends them as they are. None: the runners' own 4 MB rule
    # (``medialab_runtime.images.MAX_UPLOAD_BYTES``, JPEG quality first), which keeps the pixels.
    input_png_only: bool = False
    max_input_bytes: int | None = Field(default=None, gt=0)

    # Variants: how many images one call may return (the provider's ``num_images``); 1: no choice.
    max_variants: int = Field(default=1, ge=1, le=MAX_VARIANTS)

    # The formats its buttons offer, each labelled with what the model delivers for it.
    formats: tuple[ImageFormat, ...] = FORMATS
    # Price tiers by output size, smallest first; none: ``price`` for any size.
    resolutions: tuple[Resolution, ...] = ()

    def resolution(self, size: ImageSize | None) -> Resolution | None:
        """The tier ``size`` is billed at; without a size the model's default (its first tier)."""
        if not self.resolutions:
            return None
        if size is None:
            return self.resolutions[0]
        pixels = size.width * size.height
        return next((tier for tier in self.resolutions if pixels <= tier.max_pixels), self.resolutions[-1])

    def tier_price(self, tier: Resolution) -> int:
        return tier.price if tier.price is not None else self.price * tier.factor

    def price_for(self, size: ImageSize | None, images: int = 1) -> int:
        """What a job of this size and this many images costs: the one rule both the gateway (to show)
        and billing use. Each image is billed alike (fal bills per image)."""
        tier = self.resolution(size)
        return (self.price if tier is None else self.tier_price(tier)) * images

    @property
    def variant_choices(self) -> tuple[int, ...]:
        """The image counts its buttons offer (1, 2, 4 within ``max_variants``); () for one image only."""
        if self.max_variants == 1:
            return ()
        return tuple(n for n in (1, 2, 4) if n <= self.max_variants)

    def cost_for(self, size: ImageSize | None) -> int:
        """The provider's list price of a job of this size, micro-USD (the tier's factor applies)."""
        tier = self.resolution(size)
        return self.cost_micro_usd * (1 if tier is None else tier.factor)

    @property
    def lowest_price(self) -> int:
        return min((self.tier_price(tier) for tier in self.resolutions), default=self.price)

    @property
    def varies_in_price(self) -> bool:
        return len({self.tier_price(tier) for tier in self.resolutions}) > 1

    def format_price(self, fmt: ImageFormat) -> int:
        return self.price_for(ImageSize(width=fmt.width, height=fmt.height))

    def format(self, key: str) -> ImageFormat:
        fmt = self.find_format(key)
        if fmt is None:
            raise KeyError(key)
        return fmt

    def find_format(self, key: str) -> ImageFormat | None:
        return next((fmt for fmt in self.formats if fmt.key == key), None)

    def aspect_fits(self, width: int, height: int) -> bool:
        return self.max_input_aspect is None or max(width, height) <= self.max_input_aspect * min(
            width, height
        )

    def input_fits(self, width: int, height: int) -> bool:
        return (self.max_input_side is None or max(width, height) <= self.max_input_side) and (
            self.max_input_pixels is None or width * height <= self.max_input_pixels
        )

    def job(self, mode: Mode, user_id: int, chat_id: int, *, free: bool = False, **fields: Any) -> JobRequest:
        """A job on this model: its runner, ids and price filled in (0 for a free rephrase)."""
        return JobRequest(
            user_id=user_id,
            chat_id=chat_id,
            mode=mode,
            runner=self.runner,
            model_key=self.key,
            model_id=self.model_id,
            price=0 if free else self.price_for(fields.get("size"), fields.get("images", 1)),
            **fields,
        )


# fal's LLM endpoint, openrouter/router: OpenRouter behind fal's queue, ``model`` a free OpenRouter model
# string (fal.ai/models/openrouter/router/api; docs/providers/fal-llm.md has what it replaced).
LLM_ENDPOINT = "openrouter/router"
# A current model from fal's own examples for the router: fast and cheap, and good at Russian.
LLM_MODEL_DEFAULT = "google/gemini-2.5-flash"

_EDIT_MODES = frozenset({Mode.edit, Mode.merge})

# fal bills Nano Banana Pro's 4K at twice the 1K/2K price (its model page); each tier holds the largest
# size Google lists for it (3:4 and 4:3).
_NANO_PRO_TIERS = (
    Resolution(key="1K", max_pixels=1200 * 896, factor=1),
    Resolution(key="2K", max_pixels=2400 * 1792, factor=1),
    Resolution(key="4K", max_pixels=4800 * 3584, factor=2),
)
# fal bills Seedream per image whatever its size (its model page): both tiers at the model's price.
_SEEDREAM_TIERS = (
    Resolution(key="2K", max_pixels=2048 * 2048),
    Resolution(key="4K", max_pixels=4096 * 4096),
)

_DEFAULT_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        key="nbp",
        model_id="fal-ai/nano-banana-pro",
        title="Nano Banana Pro",
        provider=Provider.fal,
        runner=Runner.fal,
        modes=frozenset({Mode.create}),
        price=rubles(24),
        # $0.15 per image, 4K twice (fal.md §5: fal.ai/models/fal-ai/nano-banana-pro)
        cost_micro_usd=150_000,
        aliases=("nano-pro", "pro", "nano-banana-pro"),
        offers_formats=True,
        formats=NANO_PRO_FORMATS,
        resolutions=_NANO_PRO_TIERS,
    ),
    ModelSpec(
        key="nb",
        model_id="fal-ai/nano-banana",
        title="Nano-banana",
        provider=Provider.fal,
        runner=Runner.fal,
        modes=frozenset({Mode.create}),
        price=rubles(8),
        # $0.039 per image (fal.md §5: the nano-banana model page)
        cost_micro_usd=39_000,
        aliases=("nano", "nano-banana"),
        max_variants=4,  # num_images 1–4 (its snapshot)
        offers_formats=True,
        formats=NANO_FORMATS,
    ),
    ModelSpec(
        key="sd",
        model_id="fal-ai/bytedance/seedream/v4/text-to-image",
        title="Seedream",
        provider=Provider.fal,
        runner=Runner.fal,
        modes=frozenset({Mode.create}),
        price=rubles(8),
        # $0.03 per image (fal's Seedream 4.0 model page; not in fal.md: check)
        cost_micro_usd=30_000,
        aliases=("seedream",),
        wants_english=True,
        max_variants=4,  # num_images 1–6, separate generations (its snapshot)
        offers_formats=True,
        formats=SEEDREAM_FORMATS,
        resolutions=_SEEDREAM_TIERS,
    ),
    ModelSpec(
        key="flux",
        model_id="fal-ai/flux/dev",
        title="FLUX.1 [dev]",
        provider=Provider.fal,
        runner=Runner.fal,
        modes=frozenset(),
        price=rubles(8),
        # $0.025 per megapixel (fal's FLUX.1 [dev] page): about one megapixel a job
        cost_micro_usd=25_000,
        aliases=("flux",),
        wants_english=True,
    ),
    ModelSpec(
        key="nbpe",
        model_id="fal-ai/nano-banana-pro/edit",
        title="Nano Banana Pro",
        provider=Provider.fal,
        runner=Runner.fal,
        modes=_EDIT_MODES,
        price=rubles(24),
        # as Nano Banana Pro: $0.15 per image
        cost_micro_usd=150_000,
        max_inputs=4,
        offers_formats=True,
        formats=NANO_PRO_FORMATS,
        resolutions=_NANO_PRO_TIERS,
    ),
    ModelSpec(
        key="nbe",
        model_id="fal-ai/nano-banana/edit",
        title="Nano-Banana",
        provider=Provider.fal,
        runner=Runner.fal,
        modes=_EDIT_MODES,
        price=rubles(8),
        # $0.039 per image (fal.md §5)
        cost_micro_usd=39_000,
        max_inputs=4,
        max_variants=4,  # num_images 1–4 (its snapshot)
    ),
    ModelSpec(
        key="sde",
        model_id="fal-ai/bytedance/seedream/v4/edit",
        title="Seedream",
        provider=Provider.fal,
        runner=Runner.fal,
        modes=_EDIT_MODES | {Mode.retouch},
        price=rubles(8),
        # $0.03 per image (fal's Seedream 4.0 model page; not in fal.md: check)
        cost_micro_usd=30_000,
        wants_english=True,
        max_inputs=4,
        max_variants=4,  # num_images 1–6, separate generations (its snapshot)
        # ByteDance's limits on Seedream 4.0 inputs (its snapshot): sides over 14 px, at most
        # 6000×6000 px in total, width/height within 1/3…3.
        min_input_side=15,
        max_input_pixels=6000 * 6000,
        max_input_aspect=3.0,
    ),
    ModelSpec(
        key="ret",
        model_id="fal-ai/retoucher",
        title="Retoucher",
        provider=Provider.fal,
        runner=Runner.fal,
        modes=frozenset({Mode.retouch}),
        price=rubles(8),
        # No list price stored for the retoucher: billing's PROVIDER_COSTS sets its cost.
        max_inputs=1,
        takes_prompt=False,
    ),
    ModelSpec(
        key="ups",
        model_id="fal-ai/recraft/upscale/crisp",
        title="Recraft Crisp ×2",
        provider=Provider.fal,
        runner=Runner.fal,
        modes=frozenset({Mode.upscale}),
        price=rubles(8),
        # $0.004 per request (Recraft's API pricing for crisp upscale; fal's page not stored)
        cost_micro_usd=4_000,
        max_inputs=1,
        # Recraft's limits (fal.md): sides 32–4096 px, at most 16 MP, PNG only, under 10 MB; we send
        # at most the runners' 4 MB (``MAX_UPLOAD_BYTES``), well inside it.
        min_input_side=32,
        max_input_side=4096,
        max_input_pixels=16_000_000,
        input_png_only=True,
        max_input_bytes=4 * 1024 * 1024,
    ),
    ModelSpec(
        key="llm",
        model_id=LLM_ENDPOINT,
        title="LLM",
        provider=Provider.fal,
        runner=Runner.llm,
        modes=frozenset({Mode.prompt}),
        price=rubles(3),
        # fal bills openrouter/router by input and output tokens (its model page): a fraction of a cent
        # per prompt; PROVIDER_COSTS may set it.
    ),
    ModelSpec(
        key="fs",
        model_id="wavespeed-ai/image-face-swap",
        title="WaveSpeed Face Swap",
        provider=Provider.wavespeed,
        runner=Runner.wavespeed,
        modes=frozenset({Mode.faceswap}),
        price=rubles(4),
        # $0.01 per image (wavespeed.md)
        cost_micro_usd=10_000,
        max_inputs=2,
    ),
    ModelSpec(
        key="txt",
        model_id="local/text-render",
        title="Pillow",
        provider=Provider.local,
        runner=Runner.text,
        modes=frozenset({Mode.text}),
        price=rubles(1),
        max_inputs=1,
        # Optional: the picture is cropped to one of these before the text is drawn.
        formats=MARKETPLACE_FORMATS,
    ),
)

DEFAULT_DEADLINE_S: Mapping[Mode, int] = {
    Mode.create: 600,
    Mode.prompt: 180,
    Mode.edit: 600,
    Mode.merge: 600,
    Mode.retouch: 600,
    Mode.text: 120,
    Mode.faceswap: 600,
    Mode.upscale: 600,
}


class UnknownModelName(LookupError):
    def __init__(self, name: str, accepted: Iterable[str]) -> None:
        self.name = name
        self.accepted = sorted(accepted)
        super().__init__(f"unknown model {name!r}")


class Catalog:
    """Models by key, by provider id and by alias; prices as configured."""

    def __init__(self, models: Iterable[ModelSpec]) -> None:
        self.models: tuple[ModelSpec, ...] = tuple(models)
        self._by_key = {m.key: m for m in self.models}
        if len(self._by_key) != len(self.models):
            raise ValueError("duplicate model keys in catalog")

    def by_key(self, key: str) -> ModelSpec:
        return self._by_key[key]

    def get(self, key: str) -> ModelSpec | None:
        return self._by_key.get(key)

    def for_mode(self, mode: Mode) -> list[ModelSpec]:
        return [m for m in self.models if mode in m.modes]

    def text_to_image(self) -> list[ModelSpec]:
        """Models the extended text form may name: M1's plus the alias-only ones (flux)."""
        return [m for m in self.models if Mode.create in m.modes or m.key == "flux"]

    def resolve_text_to_image(self, name: str) -> ModelSpec:
        wanted = name.strip().lower()
        for model in self.text_to_image():
            if wanted in (model.model_id.lower(), model.key, *model.aliases):
                return model
        accepted = {a for m in self.text_to_image() for a in m.aliases}
        accepted |= {m.model_id for m in self.text_to_image()}
        raise UnknownModelName(name, accepted)


_price_adapter: TypeAdapter[int] = TypeAdapter(Kopecks)


def default_catalog(price_overrides: Mapping[str, int] | None = None) -> Catalog:
    """The models with their prices; ``price_overrides`` by model key, or ``<key>@<tier>`` for one
    resolution tier (``{"nbp": 3000, "nbp@4K": 7000}``)."""
    overrides = dict(price_overrides or {})
    models = []
    for model in _DEFAULT_MODELS:
        fields = model.model_dump()
        if model.key in overrides:
            fields["price"] = overrides.pop(model.key)
        for tier in fields["resolutions"]:
            tier_key = f"{model.key}@{tier['key']}"
            if tier_key in overrides:
                tier["price"] = overrides.pop(tier_key)
        models.append(ModelSpec.model_validate(fields))
    if overrides:
        raise ValueError(f"price overrides for unknown model keys: {sorted(overrides)}")
    return Catalog(models)


def format_by_key(key: str) -> ImageFormat:
    for fmt in FORMATS:
        if fmt.key == key:
            return fmt
    raise KeyError(key)
