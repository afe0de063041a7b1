"""Pytest fixtures shared by every test directory: real NATS and PostgreSQL, never mocks.

NATS: every test gets its own nats-server with JetStream on a free port (the binary ships in the
venv), so streams and consumers never leak between tests. It runs with the production permissions
(deploy/nats/auth.conf); ``nats_url`` is the admin user's URL for the test's own clients, and a test
fails when the server logged a permission violation unless it is marked ``nats_violations`` (it
provokes them on purpose).
PostgreSQL: one private server per session (pgserver) unless ``DATABASE_URL`` is set; every test
gets a fresh database on it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from PIL import Image

from medialab_devstack import forked
from medialab_devstack.nats_server import NatsCluster, NatsServer
from medialab_devstack.postgres import EmbeddedPostgres, fresh_database_name, with_database


def _private_dir(prefix: str) -> Path:
    # Not under pytest's tmp_path: pytest prunes old session folders, and a concurrent pytest
    # session would pull the data directory out from under a running server.
    return Path(tempfile.mkdtemp(prefix=prefix))


def pytest_configure(config: pytest.Config) -> None:
    # Service processes the tests start are forked from a warm interpreter (medialab_devstack.forked);
    # processes those start inherit it. A test of the cold start removes it from their environment.
    os.environ.setdefault(forked.ENV_SWITCH, "1")
    config.addinivalue_line(
        "markers", "nats_violations: the test provokes NATS permission violations on purpose"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files that start process stacks (a test marked ``e2e`` or ``chaos``) first, those with more
    tests first: a parallel run hands out files in this order, so the long files start at once and
    the many short ones fill the workers' gaps at the end. A file's tests keep their order."""
    per_file = Counter(item.path for item in items)
    stacks = {
        item.path for item in items if item.get_closest_marker("e2e") or item.get_closest_marker("chaos")
    }
    items.sort(key=lambda item: (item.path not in stacks, -per_file[item.path], str(item.path)))


@pytest.fixture(autouse=True)
def _pillow_pixel_limit() -> Iterator[None]:
    """A service started in the test's own process sets Pillow's process-wide pixel guard
    (``configure_pillow``); the next test gets Pillow's limit as it was. (pytest restores the warning
    filters around every test itself.)"""
    saved = Image.MAX_IMAGE_PIXELS
    yield
    Image.MAX_IMAGE_PIXELS = saved


@pytest.fixture
def nats_server(request: pytest.FixtureRequest) -> Iterator[NatsServer]:
    store = _private_dir("medialab-nats-")
    server = NatsServer(store)
    server.start()
    yield server
    server.stop()
    violations = server.violations()
    shutil.rmtree(store, ignore_errors=True)
    if violations and request.node.get_closest_marker("nats_violations") is None:
        pytest.fail("NATS permission violations:\n" + "\n".join(dict.fromkeys(violations)), pytrace=False)


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url


@pytest.fixture
def nats_cluster(request: pytest.FixtureRequest) -> Iterator[NatsCluster]:
    """Three nats-server nodes with routes and JetStream on each, the production permissions on all;
    ``nats_cluster.url`` is the admin user's comma-separated list of the three."""
    store = _private_dir("medialab-nats-cluster-")
    cluster = NatsCluster(store)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
    violations = cluster.violations()
    shutil.rmtree(store, ignore_errors=True)
    if violations and request.node.get_closest_marker("nats_violations") is None:
        pytest.fail("NATS permission violations:\n" + "\n".join(dict.fromkeys(violations)), pytrace=False)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    external = os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    # pgserver logs at INFO from an atexit hook, after pytest has closed the captured streams.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    root = _private_dir("medialab-pg-")
    pg = EmbeddedPostgres(root / "data")
    pg.start()
    yield pg.url("postgres")
    pg.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    name = fresh_database_name()
    admin = await asyncpg.connect(postgres_admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(postgres_admin_url, name)
    admin = await asyncpg.connect(postgres_admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
