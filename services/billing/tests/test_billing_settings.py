"""BillingSettings from the environment: admin list formats, required database, deadlines."""

from __future__ import annotations

import pytest
from billing.settings import BillingSettings
from medialab_contracts.catalog import DEFAULT_DEADLINE_S
from medialab_contracts.modes import Mode
from pydantic import ValidationError

ADMIN_FORMS = [("[1, 22]", {1, 22}), ("1, 22", {1, 22}), ("1 22", {1, 22}), ("7", {7}), ("", set())]


@pytest.mark.parametrize(("raw", "expected"), ADMIN_FORMS)
def test_admin_ids_from_json_or_commas(monkeypatch: pytest.MonkeyPatch, raw: str, expected: set[int]) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/billing")
    monkeypatch.setenv("ADMIN_IDS", raw)
    assert BillingSettings().admin_ids == expected


def test_bad_admin_ids_and_missing_database_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ValidationError):
        BillingSettings(_env_file=None)
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/billing")
    monkeypatch.setenv("ADMIN_IDS", "1,boss")
    with pytest.raises(ValidationError):
        BillingSettings()


def test_database_url_stays_out_of_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://billing:s3cret@db/billing")
    assert "s3cret" not in repr(BillingSettings())


def test_deadline_is_the_request_or_the_mode_default_plus_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/billing")
    monkeypatch.setenv("DEADLINE_GRACE_S", "30")
    monkeypatch.setenv("MODE_DEADLINES_S", '{"text": 60}')
    settings = BillingSettings()
    assert settings.deadline_s(Mode.create, 100) == 130
    assert settings.deadline_s(Mode.text, None) == 90
    assert settings.deadline_s(Mode.create, None) == DEFAULT_DEADLINE_S[Mode.create] + 30


@pytest.mark.parametrize(
    "env",
    [
        {"STARS_MIN_TOPUP": "20000", "STARS_MAX_TOPUP": "10000"},  # an empty range
        {"STARS_RATE_KOPECKS": "10", "STARS_MAX_TOPUP": "200000"},  # 20000 Stars: over one invoice
    ],
)
def test_stars_limits_must_fit_one_invoice(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/billing")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        BillingSettings()
