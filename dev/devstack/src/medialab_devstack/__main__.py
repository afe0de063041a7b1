"""``python -m medialab_devstack up [--data-dir DIR]``: run the whole stack on this machine."""

import argparse
import sys
from pathlib import Path

from medialab_devstack.launcher import up


def main() -> int:
    parser = argparse.ArgumentParser(prog="medialab_devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up", help="start NATS, PostgreSQL, emulators and all services")
    up_parser.add_argument("--data-dir", type=Path, default=Path(".medialab"))
    args = parser.parse_args()
    return up(args.data_dir.resolve())


if __name__ == "__main__":
    sys.exit(main())
