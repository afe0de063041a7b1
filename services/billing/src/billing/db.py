"""The PostgreSQL side: the connection pool, versioned migrations, and "database down" as a typed error."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources

import asyncpg
from medialab_contracts.errors import ServiceUnavailable

from billing.settings import BillingSettings

log = logging.getLogger(__name__)

# Any of these means "PostgreSQL is not answering right now": callers get ServiceUnavailable.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # protocol state broken by a connection the server cut
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.exceptions.ObjectNotInPrerequisiteStateError,  # database not accepting connections
    asyncpg.exceptions.TooManyConnectionsError,
)

# Key of the session advisory lock that serialises migrations of concurrently starting replicas.
MIGRATION_LOCK_KEY = 0x6D6C_6269_6C6C  # "mlbill"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    folder = resources.files("billing") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions: {versions}")
    return found


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Apply the migrations this database lacks, each in its own transaction; returns their versions."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for migration in load_migrations():
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            log.info("applied migration %s", migration.name)
            applied.append(migration.version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool reset hook that does nothing.

    asyncpg's default reset costs one extra round trip per request (advisory unlock, CLOSE ALL,
    UNLISTEN, RESET ALL); pooled connections here never hold session state (migrations use their
    own connection), so there is nothing to reset.
    """


class Database:
    """Owns the asyncpg pool; ``connection()`` turns an outage into ``ServiceUnavailable``."""

    def __init__(self, settings: BillingSettings) -> None:
        self._settings = settings
        self._pool: asyncpg.Pool | None = None

    @property
    def dsn(self) -> str:
        return self._settings.database_url.get_secret_value()

    async def open(self) -> None:
        """Migrate and create the pool; raises one of UNAVAILABLE_ERRORS while PostgreSQL is down."""
        conn = await asyncpg.connect(self.dsn, timeout=self._settings.db_connect_timeout_s)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=min(self._settings.pool_min_size, self._settings.pool_max_size),
            max_size=self._settings.pool_max_size,
            timeout=self._settings.db_connect_timeout_s,
            command_timeout=self._settings.db_command_timeout_s,
            reset=_keep_session,
        )

    async def open_until_up(self, stopping: asyncio.Event) -> bool:
        """Retry ``open`` until PostgreSQL answers; False if asked to stop first."""
        delay = 0.2
        while not stopping.is_set():
            try:
                await self.open()
                return True
            except UNAVAILABLE_ERRORS as error:
                log.warning("postgres not reachable (%s); retrying in %.1fs", type(error).__name__, delay)
            try:
                await asyncio.wait_for(stopping.wait(), timeout=delay)
            except TimeoutError:
                delay = min(delay * 2, 5.0)
        return False

    async def close(self) -> None:
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), timeout=5)
            except TimeoutError:
                self._pool.terminate()
            self._pool = None

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        if self._pool is None:
            raise ServiceUnavailable("database not connected")
        try:
            async with self._pool.acquire(timeout=self._settings.db_connect_timeout_s) as conn:
                try:
                    yield conn
                except UNAVAILABLE_ERRORS:
                    # Never hand a connection in doubt to the next request: the pool opens a new one.
                    conn.terminate()
                    raise
        except UNAVAILABLE_ERRORS as error:
            log.warning("postgres unavailable: %s", type(error).__name__)
            raise ServiceUnavailable("database unavailable") from None

    async def ping(self) -> bool:
        try:
            async with self.connection() as conn:
                return bool(await conn.fetchval("SELECT 1", timeout=2.0) == 1)
        except ServiceUnavailable:
            return False
