"""The README's first command: the whole stack in sandbox mode on one machine (issue 3).

Runs ``python -m medialab_devstack up`` exactly as ``dev.py up`` does, with no NATS, PostgreSQL
or tokens configured; checks that its NATS refuses anonymous clients, every service's health,
readiness and metrics, talks to the bot through the Telegram emulator, stops with SIGTERM and checks
that nothing is left running; then starts again on the same data folder and finds the balance it left.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import nats
import psutil
import pytest
from medialab_devstack.forked import ENV_SWITCH
from medialab_devstack.launcher import JOB_SIGNING_SERVICES, SANDBOX_BOT_TOKEN, SANDBOX_USER_ID, SERVICE_ORDER
from medialab_devstack.stack import SERVICE_MODULES
from medialab_sandbox.telegram import TelegramUserClient
from nats.errors import Error as NatsError
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.e2e

# The launcher as the README runs it: sandbox mode, and service processes started cold, not forked
# from the test suite's warm fork server (medialab_devstack.forked).
UNSET = ("NATS_URL", "DATABASE_URL", "TG_BOT_TOKEN", "FAL_KEYS", "FAL_KEY", "WAVESPEED_API_KEY", ENV_SWITCH)


@contextmanager
def launcher(data_dir: Path, *args: str) -> Iterator[tuple[str, dict[str, str], str]]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in UNSET and k not in {"NATS_REPLICAS", "JOB_SIGNING_KEY"}
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "medialab_devstack", "up", "--data-dir", str(data_dir), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    banner: list[str] = []
    started = time.monotonic()
    try:
        for line in proc.stdout:
            banner.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        assert time.monotonic() - started < 180, "stack took longer than 180 s to come up"
        text = "".join(banner)
        assert "MediaLab is up." in text, text
        health = dict(re.findall(r"^\s+([a-z-]+)\s+(http://127\.0\.0\.1:\d+)/healthz", text, re.M))
        api = re.search(r"--api (http://127\.0\.0\.1:\d+)", text)
        assert api, text
        children = psutil.Process(proc.pid).children(recursive=True)
        yield api.group(1), health, text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"left running: {[c.cmdline() for c in alive]}"


def signing_keys() -> dict[str, str | None]:
    """Each service process under this test → the JOB_SIGNING_KEY in its environment."""
    modules = {module: name for name, module in SERVICE_MODULES.items()}
    keys: dict[str, str | None] = {}
    for child in psutil.Process().children(recursive=True):
        command = child.cmdline()
        module = command[command.index("-m") + 1] if "-m" in command[:-1] else None
        if module in modules:
            keys[modules[module]] = child.environ().get("JOB_SIGNING_KEY")
    return keys


async def test_sandbox_stack_comes_up_answers_start_and_keeps_balances(tmp_path: Path) -> None:
    data_dir = tmp_path / "stack"
    with launcher(data_dir) as (api, health, banner):
        # Billing signs jobs and the consumers check them with one key made for this run; no other
        # service holds it.
        keys = signing_keys()
        assert set(keys) == set(SERVICE_ORDER)
        (key,) = {keys[name] for name in JOB_SIGNING_SERVICES}
        assert key is not None and len(key) == 64
        assert all(keys[name] is None for name in set(SERVICE_ORDER) - JOB_SIGNING_SERVICES)
        # The embedded nats-server runs with the production permissions: no anonymous client.
        nats_url = re.search(r"embedded nats-server: (nats://127\.0\.0\.1:\d+)", banner)
        assert nats_url, banner
        with pytest.raises(NatsError, match="Authorization Violation"):
            await nats.connect(nats_url.group(1), allow_reconnect=False, max_reconnect_attempts=0)
        assert set(health) == set(SERVICE_ORDER)
        async with httpx.AsyncClient() as http:
            for name, url in health.items():
                assert (await http.get(f"{url}/healthz")).status_code == 200, name
                assert (await http.get(f"{url}/readyz")).status_code == 200, name
                metrics = (await http.get(f"{url}/metrics")).text
                families = {f.name for f in text_string_to_metric_families(metrics)}
                assert "medialab_build_info" in families, name
            web = re.search(r"^\s+(http://127\.0\.0\.1:\d+/_emu/\S+/webchat\?user=\d+)$", banner, re.M)
            assert web, banner
            page = await http.get(web.group(1))
            assert page.status_code == 200 and 'id="webchat"' in page.text
        async with TelegramUserClient(api, SANDBOX_BOT_TOKEN, user_id=SANDBOX_USER_ID) as user:
            await user.send_command("start")
            menu = await user.wait_for_reply(lambda m: "MediaLab" in (m.text or ""), timeout=20)
            assert "🎨 Создать" in str(menu.reply_markup)
            await user.send_command("add_balance", "12")
            await user.wait_for_reply(lambda m: "42 ₽" in (m.text or ""), timeout=20)

    with launcher(data_dir) as (api, _health, _banner):
        async with TelegramUserClient(api, SANDBOX_BOT_TOKEN, user_id=SANDBOX_USER_ID) as user:
            await user.send_command("balance")
            reply = await user.wait_for_reply(lambda m: "Баланс" in (m.text or ""), timeout=20)
            assert "42 ₽" in (reply.text or "")


async def test_sandbox_stack_on_a_three_node_nats_cluster_replicates_and_delivers(tmp_path: Path) -> None:
    """``dev.py up --nats-cluster 3``: three nats-server nodes, every service on all three URLs with
    ``NATS_REPLICAS=3``; every service's streams report three current copies, and a picture ordered
    through the bot is delivered."""
    with launcher(tmp_path / "stack", "--nats-cluster", "3") as (api, health, banner):
        assert "embedded 3-node nats cluster, 3 replicas" in banner, banner
        urls = re.search(r"nats cluster, 3 replicas: (\S+) ", banner)
        assert urls and urls.group(1).count("nats://127.0.0.1:") == 3, banner
        async with httpx.AsyncClient() as http:
            for name, url in health.items():
                deadline = time.monotonic() + 60
                while True:
                    body = (await http.get(f"{url}/readyz")).json()
                    placement = body["details"]["jetstream"]
                    if all(p.get("replicas") == 3 and p.get("current") == 3 for p in placement.values()):
                        break
                    assert time.monotonic() < deadline, (name, placement)
                    await asyncio.sleep(0.5)
                assert body["ready"] is True, name
        async with TelegramUserClient(api, SANDBOX_BOT_TOKEN, user_id=SANDBOX_USER_ID) as user:
            await user.send_command("start")
            await user.wait_for_reply(lambda m: "MediaLab" in (m.text or ""), timeout=20)
            await user.send_text("Изображение кот на кластере | model=flux | size=64x64")
            offer = await user.wait_for_reply(
                lambda m: any("Запустить" in b.text for b in m.inline_buttons), timeout=30
            )
            await user.press_button(offer.message_id, text=offer.button("Запустить").text)
            result = await user.wait_for_message(
                predicate=lambda m: m.document is not None, after=offer.message_id, timeout=60
            )
            assert result.document is not None
