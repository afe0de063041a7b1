"""Parsers of typed input: the extended create form, /add_balance and /status arguments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from gateway_bot.failures import (
    EmptyPrompt,
    ExtendedFormError,
    FormProblem,
    PromoArgsError,
    PromoProblem,
    PromptTooLong,
    StatusArgsError,
    TopupArgsError,
    TopupOutOfLimits,
    TopupProblem,
)
from gateway_bot.parsing import (
    is_extended_form,
    parse_add_balance,
    parse_extended,
    parse_job_id,
    parse_promo_new,
    parse_referral,
    parse_rubles,
    parse_topup_amount,
)
from medialab_contracts.catalog import default_catalog

CATALOG = default_catalog()


def test_extended_form_full() -> None:
    request = parse_extended(
        "Изображение кот в шляпе | model=flux | size=1024x768 | aspect_ratio=16:9",
        CATALOG,
    )
    assert request.prompt == "кот в шляпе"
    assert request.model.model_id == "fal-ai/flux/dev"
    assert (request.size.width, request.size.height) == (1024, 768)
    assert request.aspect_ratio == "16:9"
    assert request.negative is None


def test_negative_is_refused_for_a_model_that_reads_none() -> None:
    with pytest.raises(ExtendedFormError) as caught:
        parse_extended("Изображение кот | model=flux | negative=размытие", CATALOG)
    assert (caught.value.problem, caught.value.value) == (FormProblem.no_negative, "FLUX.1 [dev]")


@pytest.mark.parametrize(
    ("name", "model_id"),
    [
        ("nano", "fal-ai/nano-banana"),
        ("seedream", "fal-ai/bytedance/seedream/v4/text-to-image"),
        ("fal-ai/nano-banana-pro", "fal-ai/nano-banana-pro"),
        ("PRO", "fal-ai/nano-banana-pro"),
    ],
)
def test_extended_form_model_aliases(name: str, model_id: str) -> None:
    assert parse_extended(f"изображение закат | model={name}", CATALOG).model.model_id == model_id


def test_extended_form_defaults_and_cyrillic_x() -> None:
    request = parse_extended("Изображение: закат над морем | size=512х512", CATALOG)
    assert request.prompt == "закат над морем"
    assert request.model.key == "nb"
    assert (request.size.width, request.size.height) == (512, 512)


def test_unknown_key_lists_accepted_keys() -> None:
    with pytest.raises(ExtendedFormError) as caught:
        parse_extended("Изображение кот | colour=red", CATALOG)
    assert caught.value.problem is FormProblem.unknown_key
    assert caught.value.accepted == ("model", "size", "aspect_ratio", "negative")


def test_unknown_model_lists_aliases() -> None:
    with pytest.raises(ExtendedFormError) as caught:
        parse_extended("Изображение кот | model=dalle9", CATALOG)
    assert caught.value.problem is FormProblem.unknown_model
    assert {"flux", "nano", "seedream"} <= set(caught.value.accepted)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Изображение кот | size=10x10", FormProblem.bad_size),
        ("Изображение кот | size=big", FormProblem.bad_size),
        ("Изображение кот | aspect_ratio=0:1", FormProblem.bad_ratio),
        ("Изображение кот | просто текст", FormProblem.bad_part),
        ("Изображение кот | model=nano | model=flux", FormProblem.duplicate),
    ],
)
def test_extended_form_problems(text: str, problem: FormProblem) -> None:
    with pytest.raises(ExtendedFormError) as caught:
        parse_extended(text, CATALOG)
    assert caught.value.problem is problem


def test_extended_form_empty_prompt() -> None:
    with pytest.raises(EmptyPrompt):
        parse_extended("Изображение  | model=nano", CATALOG)


def test_extended_form_too_long() -> None:
    with pytest.raises(PromptTooLong):
        parse_extended("Изображение " + "я" * 4001, CATALOG)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Изображение кот", True), ("изображение", True), ("Изображения котов", False), ("кот", False)],
)
def test_is_extended_form(text: str, expected: bool) -> None:
    assert is_extended_form(text) is expected


@pytest.mark.parametrize(
    ("value", "kopecks"), [("500", 50_000), ("99,50", 9_950), ("0.01", 1), ("12.5", 1_250)]
)
def test_rubles_to_kopecks(value: str, kopecks: int) -> None:
    assert parse_rubles(value) == kopecks


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ("-5", TopupProblem.not_positive),
        ("0", TopupProblem.not_positive),
        ("abc", TopupProblem.bad_amount),
        ("1.005", TopupProblem.bad_amount),
        ("nan", TopupProblem.bad_amount),
        ("9999999999", TopupProblem.too_large),
        ("", TopupProblem.usage),
        ("1 2 3", TopupProblem.usage),
        ("-1 100", TopupProblem.bad_user),
        ("x 100", TopupProblem.bad_user),
    ],
)
def test_add_balance_problems(args: str, problem: TopupProblem) -> None:
    with pytest.raises(TopupArgsError) as caught:
        parse_add_balance(args)
    assert caught.value.problem is problem


def test_add_balance_forms() -> None:
    assert parse_add_balance("500").amount == 50_000
    assert parse_add_balance("500").target_user_id is None
    args = parse_add_balance("42 10,5")
    assert (args.target_user_id, args.amount) == (42, 1_050)


def test_job_id_argument() -> None:
    job_id = "0123456789abcdef0123456789abcdef"
    assert parse_job_id(f" {job_id.upper()} ") == job_id
    with pytest.raises(StatusArgsError) as missing:
        parse_job_id(None)
    assert missing.value.missing
    with pytest.raises(StatusArgsError) as malformed:
        parse_job_id("nope")
    assert not malformed.value.missing


NOW = datetime(2026, 3, 10, 21, 30, tzinfo=UTC)  # 11.03.2026 00:30 in Moscow


def test_promo_new_reads_code_amount_uses_and_the_end_of_the_until_day() -> None:
    args = parse_promo_new("spring-25 99,50 20 31.03.2026", NOW)
    assert (args.code, args.amount, args.max_uses) == ("SPRING-25", 9950, 20)
    assert args.expires_at == datetime(2026, 3, 31, 21, 0, tzinfo=UTC)  # 01.04 00:00 Moscow
    assert parse_promo_new("GIFT 100 5 2026-03-11", NOW).expires_at == datetime(
        2026, 3, 11, 21, 0, tzinfo=UTC
    )
    short = parse_promo_new("GIFT 100", NOW)
    assert (short.max_uses, short.expires_at) == (1, None)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (None, PromoProblem.usage),
        ("GIFT", PromoProblem.usage),
        ("GIFT 100 5 31.03.2026 extra", PromoProblem.usage),
        ("ab 100", PromoProblem.bad_code),
        ("ПОДАРОК 100", PromoProblem.bad_code),
        ("GIFT 100 0", PromoProblem.bad_uses),
        ("GIFT 100 ５", PromoProblem.bad_uses),
        ("GIFT 100 5 31/03/2026", PromoProblem.bad_date),
        ("GIFT 100 5 10.03.2026", PromoProblem.past_date),  # yesterday in Moscow
    ],
)
def test_promo_new_refuses_bad_arguments(args: str | None, problem: PromoProblem) -> None:
    with pytest.raises(PromoArgsError) as caught:
        parse_promo_new(args, NOW)
    assert caught.value.problem is problem


def test_promo_new_amount_is_checked_like_add_balance() -> None:
    with pytest.raises(TopupArgsError) as caught:
        parse_promo_new("GIFT -5", NOW)
    assert caught.value.problem is TopupProblem.not_positive


def test_a_typed_top_up_must_be_within_the_limits() -> None:
    assert parse_topup_amount(" 250 ", 50, 10_000) == 25_000
    for bad in ("49", "10000,01", "0"):
        with pytest.raises((TopupOutOfLimits, TopupArgsError)):
            parse_topup_amount(bad, 50, 10_000)
    with pytest.raises(TopupOutOfLimits) as caught:
        parse_topup_amount("20000", 50, 10_000)
    assert (caught.value.low_rub, caught.value.high_rub) == (50, 10_000)


def test_a_referral_payload_names_the_referrer() -> None:
    assert parse_referral("ref_12345") == 12345
    for payload in (None, "", "ref_", "ref_0", "ref_-1", "ref_12a", "xref_1", "ref_99999999999999999"):
        assert parse_referral(payload) is None
