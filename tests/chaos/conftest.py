"""Fixtures of the chaos scenarios: one full stack for the session, healed before every scenario."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from medialab_testkit.chaos import Bus, ChaosStack, Oracle, bus


@pytest.fixture(scope="session")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosStack]:
    # Not under pytest's own temp root: another pytest run on the machine resets that root to 0700,
    # and PostgreSQL (run by pgserver as its own user) could then not be stopped and started again.
    root = Path(tempfile.mkdtemp(prefix="medialab-chaos-"))
    # pgserver logs at INFO from an atexit hook, after pytest has closed the captured streams.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    stack = ChaosStack(root)
    stack.start()
    yield stack
    stack.stop()
    # The services' logs outlive the run where pytest keeps its temp dirs (the last three runs).
    shutil.copytree(stack.stack.log_dir, tmp_path_factory.mktemp("chaos-logs"), dirs_exist_ok=True)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def stack(chaos_stack: ChaosStack) -> ChaosStack:
    """The session's stack, everything running and every emulator without faults."""
    await chaos_stack.heal()
    return chaos_stack


@pytest.fixture
async def client(stack: ChaosStack) -> AsyncIterator[Bus]:
    async with bus(stack) as connected:
        yield connected


@pytest.fixture
async def oracle(stack: ChaosStack, client: Bus) -> AsyncIterator[Oracle]:
    checker = Oracle(stack, client)
    yield checker
    await checker.close()
