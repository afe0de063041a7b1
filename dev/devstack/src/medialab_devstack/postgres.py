"""A private PostgreSQL from the pgserver package, with per-purpose databases."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pgserver


class EmbeddedPostgres:
    """Starts (or reuses) a PostgreSQL cluster whose data lives in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: pgserver.PostgresServer | None = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")

    @property
    def running(self) -> bool:
        """Started by this handle and not stopped since (a crash outside is not noticed)."""
        return self._server is not None

    def url(self, database: str = "postgres") -> str:
        assert self._server is not None, "start() first"
        return self._server.get_uri(database)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def fresh_database_name(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"
