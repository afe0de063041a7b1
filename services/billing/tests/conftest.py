"""Fixtures of the billing tests; the helpers they share live in ``medialab_testkit.billing``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from billing.db import migrate
from billing.settings import BillingSettings
from medialab_testkit.billing import RunningBilling, make_settings, running_billing


@pytest.fixture
def settings_factory(nats_url: str, database_url: str) -> Callable[..., BillingSettings]:
    return lambda **overrides: make_settings(nats_url, database_url, **overrides)


@pytest.fixture
async def billing(settings_factory: Callable[..., BillingSettings]) -> AsyncIterator[RunningBilling]:
    async with running_billing(settings_factory()) as running:
        yield running


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A migrated database, for tests of the ledger functions themselves."""
    connection = await asyncpg.connect(database_url)
    await migrate(connection)
    yield connection
    await connection.close()
