"""Secrets never reach the logs: not in a handled error's traceback, not in a crash's.

The gateway's real composition root runs in its own process (its own NATS user on the test's
nats-server); its setup raises errors that carry the bot token, as an aiohttp error with the Bot API
URL would. The process output must show the errors and never the token.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from fal_runner.settings import FalRunnerSettings
from medialab_devstack.nats_server import NatsServer
from medialab_runtime.logs import secret_values

TOKEN = "7012345678:AAHx-SECRET-bot-token-that-must-never-be-logged"

SCRIPT = """
import asyncio, logging
from gateway_bot.settings import GatewaySettings
from medialab_runtime.service import run_service

settings = GatewaySettings()
token = settings.tg_bot_token.get_secret_value()

async def setup(ctx):
    try:
        raise ConnectionError(f"GET https://api.telegram.org/bot{token}/getMe: connection reset")
    except ConnectionError:
        logging.getLogger("probe").exception("handled failure for %s", token)
    raise RuntimeError(f"download https://api.telegram.org/file/bot{token}/photos/1.jpg failed")

asyncio.run(run_service("gateway-bot", settings, setup))
"""


def test_the_bot_token_is_redacted_from_handled_and_crash_tracebacks(nats_server: NatsServer) -> None:
    env = {
        **os.environ,
        **nats_server.service_env("gateway-bot"),
        "TG_BOT_TOKEN": TOKEN,
        "ADMIN_IDS": "[1]",
        "HTTP_PORT": "0",
        "LOG_FORMAT": "json",
    }
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, timeout=60, text=True)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    handled = [line for line in lines if line["msg"].startswith("handled failure")]
    crash = [line for line in lines if line["logger"] == "medialab.crash"]
    assert (
        handled and "ConnectionError" in handled[0]["exc"] and "api.telegram.org/bot***" in handled[0]["exc"]
    )
    assert crash and "RuntimeError" in crash[0]["exc"] and "/file/bot***/photos" in crash[0]["exc"]
    assert TOKEN not in output
    assert TOKEN.split(":", 1)[1] not in output


def test_every_fal_key_of_a_list_is_redacted_alone() -> None:
    settings = FalRunnerSettings(
        _env_file=None, fal_keys='["key-one:first-secret-value@4", "key-two:second-secret"]'
    )
    pieces = secret_values(settings)
    for secret in (
        "key-one:first-secret-value",
        "first-secret-value",
        "key-two:second-secret",
        "second-secret",
    ):
        assert secret in pieces
