"""``dev.py smoke``: refuses to run without keys, and checks every endpoint when aimed at the emulators."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from medialab_sandbox.fal import FalEmulator
from medialab_sandbox.telegram import TelegramEmulator
from medialab_sandbox.wavespeed import WaveSpeedEmulator

FAL_KEY = "smoke-id:smoke-secret"
WAVESPEED_KEY = "smoke-wavespeed-key"
KEY_NAMES = ("TG_BOT_TOKEN", "FAL_KEYS", "FAL_KEY", "WAVESPEED_API_KEY")
BASE_NAMES = ("TELEGRAM_API_BASE", "FAL_QUEUE_BASE", "FAL_REST_BASE", "WAVESPEED_API_BASE", "LLM_MODEL")
ROWS = (
    "telegram getMe",
    "fal storage token",
    "fal storage upload",
    "fal submit fal-ai/recraft/upscale/crisp",
    "fal status fal-ai/recraft/upscale/crisp",
    "fal result fal-ai/recraft/upscale/crisp",
    "wavespeed balance",
)
MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in KEY_NAMES + BASE_NAMES}


async def _smoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "medialab_devstack.smoke",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@MODULE_LOOP
async def test_without_keys_it_names_each_missing_one_and_fails(tmp_path: Path) -> None:
    code, out, err = await _smoke(_clean_env(), "--env-file", str(tmp_path / "absent.env"))
    assert code == 2
    assert out == ""
    for name in ("TG_BOT_TOKEN", "FAL_KEYS", "WAVESPEED_API_KEY"):
        assert name in err


@MODULE_LOOP
async def test_keys_in_the_env_file_count(tmp_path: Path) -> None:
    env_file = tmp_path / "smoke.env"
    env_file.write_text("TG_BOT_TOKEN=123:abc\nFAL_KEY=id:secret\n")
    code, _, err = await _smoke(_clean_env(), "--env-file", str(env_file))
    assert code == 2
    assert "WAVESPEED_API_KEY" in err and "TG_BOT_TOKEN" not in err and "FAL_KEYS" not in err


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def emulators() -> AsyncIterator[tuple[TelegramEmulator, FalEmulator, WaveSpeedEmulator]]:
    async with (
        TelegramEmulator() as telegram,
        FalEmulator(keys=[FAL_KEY]) as fal,
        WaveSpeedEmulator([WAVESPEED_KEY]) as wavespeed,
    ):
        yield telegram, fal, wavespeed


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def emulated_run(
    emulators: tuple[TelegramEmulator, FalEmulator, WaveSpeedEmulator],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[int, str, str]:
    """One smoke run with fake keys against the emulators, bases given by ``--base-urls``."""
    telegram, fal, wavespeed = emulators
    env = _clean_env() | {
        "TG_BOT_TOKEN": telegram.token,
        "FAL_KEYS": FAL_KEY,
        "WAVESPEED_API_KEY": WAVESPEED_KEY,
    }
    bases = (
        f"telegram={telegram.base_url},fal-queue={fal.queue_base},fal-rest={fal.rest_base},"
        f"wavespeed={wavespeed.base_url}"
    )
    empty = tmp_path_factory.mktemp("smoke") / "none.env"
    return await _smoke(env, "--base-urls", bases, "--env-file", str(empty), "--timeout", "20")


@MODULE_LOOP
async def test_against_the_emulators_it_prints_the_table(emulated_run: tuple[int, str, str]) -> None:
    _, out, _ = emulated_run
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["endpoint", "HTTP", "latency"]
    for row in ROWS:
        line = next((line for line in lines if line.startswith(row + " ")), None)
        assert line is not None, f"no row for {row}:\n{out}"
        assert line.rstrip().endswith("ok"), line
        assert " ms " in line and "snapshot (checked 2026-12-06)" in line
    assert FAL_KEY not in out and WAVESPEED_KEY not in out


@MODULE_LOOP
async def test_against_the_emulators_every_check_passes(emulated_run: tuple[int, str, str]) -> None:
    code, out, _ = emulated_run
    assert "fal result openrouter/router" in out
    assert code == 0, out


@MODULE_LOOP
async def test_a_failed_check_fails_the_run(
    emulators: tuple[TelegramEmulator, FalEmulator, WaveSpeedEmulator], tmp_path: Path
) -> None:
    """A wrong WaveSpeed key: its row fails with the HTTP status and the run exits 1."""
    telegram, fal, wavespeed = emulators
    env = _clean_env() | {"TG_BOT_TOKEN": telegram.token, "FAL_KEYS": FAL_KEY, "WAVESPEED_API_KEY": "wrong"}
    env |= {
        "TELEGRAM_API_BASE": telegram.base_url,
        "FAL_QUEUE_BASE": fal.queue_base,
        "FAL_REST_BASE": fal.rest_base,
        "WAVESPEED_API_BASE": wavespeed.base_url,
    }
    code, out, _ = await _smoke(env, "--env-file", str(tmp_path / "none.env"), "--timeout", "20")
    assert code == 1
    balance = next(line for line in out.splitlines() if line.startswith("wavespeed balance "))
    assert " 401 " in balance and "FAILED" in balance
    assert next(line for line in out.splitlines() if line.startswith("telegram getMe ")).endswith("ok")
