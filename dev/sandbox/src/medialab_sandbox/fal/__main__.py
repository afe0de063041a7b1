"""Run the fal emulator as its own process (the dev launcher's sandbox mode).

    python -m medialab_sandbox.fal --port 8701 --keys id1:secret1,id2:secret2

Prints one line ``fal emulator listening on <base_url>`` on stdout once it accepts connections,
then serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from medialab_sandbox.fal.faults import Latency
from medialab_sandbox.fal.server import FalEmulator
from medialab_sandbox.lifecycle import serve_until_signalled


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m medialab_sandbox.fal", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--public-url", default=None, help="base URL clients should use")
    parser.add_argument("--keys", required=True, help="comma-separated accepted fal keys")
    parser.add_argument(
        "--concurrency-limit",
        type=int,
        default=None,
        help="in progress per key, each key its own account (group keys with PUT /_emu/account)",
    )
    parser.add_argument("--queue-seconds", type=float, default=0.0)
    parser.add_argument("--run-seconds", type=float, default=1.0)
    parser.add_argument("--upscale-webp", action="store_true", help="crisp upscale answers WebP")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    keys = [key.strip() for key in args.keys.split(",") if key.strip()]
    limits = {key: args.concurrency_limit for key in keys} if args.concurrency_limit else None
    emulator = FalEmulator(
        keys,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        latency=Latency(queue_seconds=args.queue_seconds, run_seconds=args.run_seconds),
        concurrency_limits=limits,
    )
    if args.upscale_webp:
        emulator.set_upscale_format("webp")
    await serve_until_signalled(emulator, lambda: f"fal emulator listening on {emulator.base_url}")


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
