"""``python -m medialab_devstack up [--data-dir DIR] [--nats-cluster N]``: run the whole stack on this
machine, on one nats-server or on a cluster of N nodes."""

import argparse
import sys
from pathlib import Path

from medialab_devstack.launcher import up


def main() -> int:
    parser = argparse.ArgumentParser(prog="medialab_devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up", help="start NATS, PostgreSQL, emulators and all services")
    up_parser.add_argument("--data-dir", type=Path, default=Path(".medialab"))
    up_parser.add_argument(
        "--nats-cluster",
        type=int,
        default=1,
        metavar="N",
        help="run N nats-server nodes as a cluster on loopback (3: every stream with 3 replicas)",
    )
    args = parser.parse_args()
    if args.nats_cluster < 1:
        parser.error("--nats-cluster needs at least one node")
    return up(args.data_dir.resolve(), args.nats_cluster)


if __name__ == "__main__":
    sys.exit(main())
