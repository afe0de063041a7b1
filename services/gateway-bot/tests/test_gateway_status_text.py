"""/status and /history say what happened to a job's money, an undelivered result included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from gateway_bot import texts
from medialab_contracts.billing import UNDELIVERABLE, OperationStatus, OperationView
from medialab_contracts.modes import Mode

AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def view(status: OperationStatus, reason: str | None) -> OperationView:
    return OperationView(
        job_id="a" * 32,
        user_id=1,
        mode=Mode.upscale,
        model_id="fal-ai/recraft/upscale/crisp",
        price=800,
        status=status,
        created_at=AT,
        updated_at=AT,
        failure_reason=reason,
    )


@pytest.mark.parametrize(
    ("status", "reason", "shown"),
    [
        (OperationStatus.failed, "provider_error", "❌ ошибка, не списано"),
        # Telegram refused the result before billing charged it: released, not a failed job.
        (OperationStatus.failed, f"{UNDELIVERABLE}_too_large", "↩️ не доставлено, не списано"),
        (OperationStatus.refunded, f"{UNDELIVERABLE}_too_large", "↩️ не доставлено, возвращено"),
        (OperationStatus.charged, None, "✅ списано"),
    ],
)
def test_status_names_the_outcome(status: OperationStatus, reason: str | None, shown: str) -> None:
    assert shown in texts.operation_status(view(status, reason), "Recraft Crisp ×2")
