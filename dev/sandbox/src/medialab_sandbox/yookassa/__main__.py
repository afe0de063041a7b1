"""`python -m medialab_sandbox.yookassa --port P [--webhook-url URL]`: a standalone emulator."""

from __future__ import annotations

import argparse
import asyncio
import logging

from medialab_sandbox.lifecycle import serve_until_signalled
from medialab_sandbox.yookassa.config import EmulatorConfig
from medialab_sandbox.yookassa.server import YooKassaEmulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = EmulatorConfig()
    parser = argparse.ArgumentParser(prog="python -m medialab_sandbox.yookassa")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--shop-id", default=defaults.shop_id)
    parser.add_argument("--secret-key", default=defaults.secret_key)
    parser.add_argument("--webhook-url", default=None, help="the shop's HTTP-notification URL")
    parser.add_argument("--no-receipts", action="store_true", help="the shop does not send 54-FZ receipts")
    parser.add_argument("--webhook-retry-s", type=float, default=defaults.webhook_retry_s)
    parser.add_argument("--public-url", default=None, help="base of confirmation URLs handed out")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    emu = YooKassaEmulator(
        EmulatorConfig(
            shop_id=args.shop_id,
            secret_key=args.secret_key,
            webhook_url=args.webhook_url,
            receipts_required=not args.no_receipts,
            webhook_retry_s=args.webhook_retry_s,
            public_url=args.public_url,
        ),
        host=args.host,
        port=args.port,
    )
    await serve_until_signalled(emu, lambda: f"yookassa emulator listening on {emu.base_url}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
