import pytest
from medialab_contracts.billing import ReserveRequest, TopupRequest
from medialab_contracts.catalog import (
    FORMATS,
    MARKETPLACE_FORMATS,
    Catalog,
    UnknownModelName,
    default_catalog,
)
from medialab_contracts.events import FailureReason, JobFailed, JobSucceeded, parse_job_event
from medialab_contracts.ids import new_job_id
from medialab_contracts.jobs import ImageSize, JobRequest
from medialab_contracts.llm import LlmUsage
from medialab_contracts.modes import Mode
from medialab_contracts.money import Kopecks, format_rub, rubles
from medialab_contracts.promo import PromoCreateRequest
from pydantic import TypeAdapter, ValidationError


def test_money_refuses_floats_bools_strings_and_negatives() -> None:
    adapter = TypeAdapter(Kopecks)
    assert adapter.validate_python(2400) == 2400
    for bad in (24.0, 24.5, True, "2400", -1, 10**12):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)
    with pytest.raises(ValidationError):
        TopupRequest.model_validate_json(
            '{"request_id":"abcdefgh","admin_id":1,"target_user_id":2,"amount":10.5}'
        )


def test_rubles_and_formatting() -> None:
    assert rubles(30) == 3000
    assert format_rub(2400) == "24 ₽"
    assert format_rub(2450) == "24,50 ₽"
    assert format_rub(123456700) == "1\u00a0234\u00a0567 ₽"
    with pytest.raises(TypeError):
        rubles(1.5)  # type: ignore[arg-type]


def test_default_prices_follow_the_spec() -> None:
    catalog = default_catalog()
    price = {m.key: m.price for m in catalog.models}
    assert price["nbp"] == price["nbpe"] == 2400
    assert price["nbp"] == 3 * price["nb"]
    assert all(price[k] == 800 for k in ("nb", "sd", "flux", "nbe", "sde", "ret", "ups"))
    assert (price["llm"], price["fs"], price["txt"]) == (300, 400, 100)
    assert [m.key for m in catalog.for_mode(Mode.create)] == ["nbp", "nb", "sd"]
    assert {m.key for m in catalog.for_mode(Mode.retouch)} == {"ret", "sde"}
    assert [(f.width, f.height) for f in FORMATS] == [(1472, 2048), (1792, 1792), (2048, 1472)]


def test_a_size_is_priced_by_its_resolution_tier_and_each_tier_can_be_overridden() -> None:
    def price(catalog: Catalog, key: str, width: int, height: int) -> int:
        return catalog.by_key(key).price_for(ImageSize(width=width, height=height))

    catalog = default_catalog({"nbp": 3000})
    assert price(catalog, "nbp", 1200, 896) == price(catalog, "nbp", 2400, 1792) == 3000  # 1K, 2K
    assert price(catalog, "nbp", 2400, 1800) == price(catalog, "nbp", 4800, 3584) == 6000  # 4K: ×2
    assert catalog.by_key("nbp").price_for(None) == 3000  # no size: fal's default, 1K
    assert price(default_catalog({"nbp@4K": 7000}), "nbp", 4096, 4096) == 7000
    assert price(catalog, "nb", 4096, 4096) == 800  # no tiers: one price
    for key in ("nbp", "nbpe", "sd"):  # every button is priced by the tier it is labelled with
        model = catalog.by_key(key)
        assert all(
            model.resolution(ImageSize(width=f.width, height=f.height)).key == f.resolution
            for f in model.formats
            if f.resolution is not None  # marketplace presets name no tier: the price shows it
        )
    with pytest.raises(ValueError, match="nbp@8K"):
        default_catalog({"nbp@8K": 1})


def test_marketplace_presets_are_the_card_sizes_and_only_exact_models_offer_them() -> None:
    sizes = {f.key: (f.width, f.height, f.size_label) for f in MARKETPLACE_FORMATS}
    assert sizes == {
        "wb": (900, 1200, "900×1200"),  # Wildberries: 3:4, at least 900×1200
        "ozon": (1200, 1600, "1200×1600"),  # Ozon: 3:4
        "ym": (1200, 1200, "1200×1200"),  # Yandex Market: sides of 600 px and more
    }
    catalog = default_catalog()
    offering = {m.key for m in catalog.models if set(MARKETPLACE_FORMATS) <= set(m.formats)}
    # Seedream takes any size of 960²…4096² pixels; M5 crops locally. Nano-banana's sizes are fixed.
    assert offering == {"sd", "txt"}
    assert all(960 * 960 <= f.width * f.height <= 4096 * 4096 for f in MARKETPLACE_FORMATS)
    assert {m.key for m in catalog.for_mode(Mode.text)} == {"txt"}
    sd = catalog.by_key("sd")
    assert [sd.format_price(f) for f in MARKETPLACE_FORMATS] == [sd.price] * 3  # Seedream's one price


def test_price_overrides_and_alias_resolution() -> None:
    catalog = default_catalog({"nbp": 3000})
    assert catalog.by_key("nbp").price == 3000
    assert catalog.resolve_text_to_image("flux").model_id == "fal-ai/flux/dev"
    assert catalog.resolve_text_to_image("NANO").key == "nb"
    assert catalog.resolve_text_to_image("fal-ai/bytedance/seedream/v4/text-to-image").key == "sd"
    with pytest.raises(UnknownModelName) as unknown:
        catalog.resolve_text_to_image("dalle9")
    assert "flux" in unknown.value.accepted
    with pytest.raises(ValueError):
        default_catalog({"nope": 1})


def test_job_and_events_round_trip_and_reject_garbage() -> None:
    job = JobRequest(
        user_id=1,
        chat_id=1,
        mode=Mode.edit,
        runner="fal",
        model_key="nbe",
        model_id="fal-ai/nano-banana/edit",
        price=800,
    )
    assert JobRequest.model_validate_json(job.model_dump_json()) == job
    assert job.subject == "jobs.fal.edit"
    failed = JobFailed(
        job_id=job.job_id, user_id=1, chat_id=1, mode=Mode.edit, reason=FailureReason.moderation
    )
    assert parse_job_event(failed.model_dump_json()) == failed
    ok = JobSucceeded(job_id=job.job_id, user_id=1, chat_id=1, mode=Mode.edit)
    assert parse_job_event(ok.model_dump_json()).kind == "succeeded"
    for garbage in (b"", b"\x00\xff", b"{}", b'{"kind":"exploded"}'):
        with pytest.raises(ValidationError):
            parse_job_event(garbage)
    with pytest.raises(ValidationError):
        ReserveRequest(job_id="../etc", user_id=1, price=1, mode=Mode.create, model_id="x")


def test_job_ids_fit_telegram_callback_data() -> None:
    assert len(f"res:upscale:{new_job_id()}:3".encode()) <= 64


def test_llm_usage_reads_both_shapes_fal_documents() -> None:
    typed = {
        "input_tokens": 31,
        "output_tokens": 6,
        "prefill_time_ms": 1.0,
        "decode_time_ms": 2.0,
        "ttft_ms": 3.0,
    }
    example = {"prompt_tokens": 31, "completion_tokens": 6, "total_tokens": 37, "cost": 0.0001}
    for usage in (typed, example):
        parsed = LlmUsage.model_validate(usage)
        assert (parsed.input_tokens, parsed.output_tokens) == (31, 6)
    assert LlmUsage.model_validate({}) == LlmUsage()


def test_provider_cost_follows_the_tier_factor_and_is_kept_by_price_overrides() -> None:
    catalog = default_catalog({"nbp": 9900})
    pro = catalog.by_key("nbp")
    assert pro.cost_for(None) == pro.cost_for(ImageSize(width=1024, height=1024)) == 150_000
    assert pro.cost_for(ImageSize(width=4096, height=4096)) == 300_000  # fal bills 4K twice
    assert catalog.by_key("nb").cost_for(None) == 39_000
    assert catalog.by_key("txt").cost_for(None) == 0  # drawn locally


def test_promo_codes_are_stored_upper_case_and_checked() -> None:
    request = PromoCreateRequest(admin_id=1, code=" spring-25 ", amount=100)
    assert (request.code, request.max_uses, request.expires_at) == ("SPRING-25", 1, None)
    for bad in ("ab", "с кириллицей", "X" * 33, "A B C"):
        with pytest.raises(ValidationError):
            PromoCreateRequest(admin_id=1, code=bad, amount=100)
    with pytest.raises(ValidationError):
        PromoCreateRequest(admin_id=1, code="GOOD", amount=0)
