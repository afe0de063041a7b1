"""Settings from the environment, and the token never reaching a log line."""

from __future__ import annotations

import logging

import pytest
from gateway_bot.app import TokenRedactor
from gateway_bot.settings import GatewaySettings
from medialab_contracts.catalog import default_catalog
from pydantic import ValidationError

TOKEN = "123456789:SECRET-token-value"


@pytest.mark.parametrize("raw", ["1,2", "[1, 2]", " 1 2 "])
def test_admin_ids_forms(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("TG_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ADMIN_IDS", raw)
    assert GatewaySettings().admin_ids == frozenset({1, 2})


def test_prices_override_the_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("PRICES", '{"nbp": 3000}')
    settings = GatewaySettings()
    assert default_catalog(settings.prices).by_key("nbp").price == 3000
    assert TOKEN not in repr(settings)


def test_webhook_needs_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example/webhook")
    with pytest.raises(ValidationError):
        GatewaySettings()


def test_the_hourly_upload_bytes_hold_at_least_one_file_of_the_size_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TG_BOT_TOKEN", TOKEN)
    assert GatewaySettings(_env_file=None).upload_bytes_per_hour == 200 * 1024 * 1024
    monkeypatch.setenv("MAX_IMAGE_BYTES", str(20 * 1024 * 1024))
    monkeypatch.setenv("UPLOAD_BYTES_PER_HOUR", str(20 * 1024 * 1024))
    assert GatewaySettings(_env_file=None).upload_bytes_per_hour == 20 * 1024 * 1024
    monkeypatch.setenv("UPLOAD_BYTES_PER_HOUR", str(20 * 1024 * 1024 - 1))
    with pytest.raises(ValidationError, match="UPLOAD_BYTES_PER_HOUR must be at least MAX_IMAGE_BYTES"):
        GatewaySettings(_env_file=None)


def test_token_is_redacted_from_log_lines() -> None:
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "GET https://api/bot%s/getMe failed", (TOKEN,), None
    )
    TokenRedactor(TOKEN).filter(record)
    assert TOKEN not in record.getMessage() and "<token>" in record.getMessage()


def test_topup_packs_are_sorted_positive_rubles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TOPUP_PACKS_RUB", "[500, 100, 500]")
    assert GatewaySettings().topup_packs_rub == [100, 500]
    for bad in ("[]", "[0, 100]", "[-5]"):
        monkeypatch.setenv("TOPUP_PACKS_RUB", bad)
        with pytest.raises(ValidationError):
            GatewaySettings()
