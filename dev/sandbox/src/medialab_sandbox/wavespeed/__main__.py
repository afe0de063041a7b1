"""`python -m medialab_sandbox.wavespeed --port P --keys k1 [k2 ...]`: a standalone emulator."""

from __future__ import annotations

import argparse
import asyncio
import logging

from medialab_sandbox.lifecycle import serve_until_signalled
from medialab_sandbox.wavespeed.codes import AccountLevel
from medialab_sandbox.wavespeed.config import EmulatorConfig
from medialab_sandbox.wavespeed.server import WaveSpeedEmulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m medialab_sandbox.wavespeed")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--keys", nargs="+", required=True, help="API keys, each its own account (commas allowed)"
    )
    parser.add_argument("--level", type=AccountLevel, default=AccountLevel.SILVER)
    parser.add_argument("--max-concurrency", type=int, default=None)
    parser.add_argument("--starts-per-minute", type=int, default=None)
    parser.add_argument("--processing-seconds", type=float, default=1.0)
    parser.add_argument("--sync-timeout-seconds", type=float, default=90.0)
    parser.add_argument("--public-url", default=None, help="base of URLs handed out to clients")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    keys = [key for arg in args.keys for key in arg.split(",") if key]
    emu = WaveSpeedEmulator(
        keys,
        level=args.level,
        max_concurrency=args.max_concurrency,
        starts_per_minute=args.starts_per_minute,
        config=EmulatorConfig(
            processing_seconds=args.processing_seconds,
            sync_timeout_seconds=args.sync_timeout_seconds,
            public_url=args.public_url,
        ),
        host=args.host,
        port=args.port,
    )
    await serve_until_signalled(emu, lambda: f"wavespeed emulator listening on {emu.base_url}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
