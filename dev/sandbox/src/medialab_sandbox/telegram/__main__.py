"""Run the emulator standalone: python -m medialab_sandbox.telegram --port P --token T."""

from __future__ import annotations

import argparse
import asyncio
import logging

from ..lifecycle import keep_survivors_of_full_collections
from .config import EmulatorConfig, RateLimitConfig
from .server import DEFAULT_TOKEN, TelegramEmulator
from .webchat import webchat_url


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m medialab_sandbox.telegram",
        description="Telegram Bot API emulator. Point aiogram at it with "
        "TelegramAPIServer.from_base('http://HOST:PORT'); users act through /_emu/… "
        "(see medialab_sandbox.telegram.client) or the chat client "
        "(python -m medialab_sandbox.telegram.chat).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument(
        "--token",
        action="append",
        help=f"bot token to accept; repeat for several bots (default {DEFAULT_TOKEN})",
    )
    parser.add_argument("--no-rate-limits", action="store_true", help="never answer 429 for flood control")
    parser.add_argument(
        "--chat-per-second",
        type=float,
        default=RateLimitConfig().per_chat_per_second,
        help="flood control's steady rate of messages to one chat (Telegram: about 1)",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    tokens = args.token or [DEFAULT_TOKEN]
    limits = RateLimitConfig(enabled=not args.no_rate_limits, per_chat_per_second=args.chat_per_second)
    config = EmulatorConfig(rate_limits=limits)
    emulator = TelegramEmulator(
        tokens[0], extra_tokens=tokens[1:], config=config, host=args.host, port=args.port
    )
    await emulator.start()
    print(f"Telegram emulator listening on {emulator.base_url}", flush=True)
    for token in tokens:
        print(f"Web chat: {webchat_url(emulator.base_url, token)}", flush=True)
    await emulator.wait_stopped()


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    keep_survivors_of_full_collections()
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
