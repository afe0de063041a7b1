"""``python -m bench [PART ...] [--json PATH] [--quick]``: run MediaLab's benchmarks, print one table.

Parts: ``billing`` (reserve+settle pairs/s), ``text_render`` (M5 render time and memory),
``pipeline`` (fal slot utilisation per account, status polls per job, per-job overhead, one runner's
throughput), ``fairness`` (two accounts' slot use with uneven jobs and two runner replicas),
``jetstream`` (acknowledged job publishes/s into JOBS with one and three copies),
``load`` (K users end to end, see ``bench/load.py``; ``--users``, ``--rate``, ``--latency``,
``--think`` apply to it) and ``compare`` (our fal pipeline beside the original design, see
``bench/compare.py``). No part named: all of them. ``--json PATH`` also writes every
figure, with the machine and its load, for comparing runs; ``--quick`` runs every part at a tiny
size (for tests: its figures mean nothing). Run from the repository root.

``python -m bench diff OLD.json NEW.json`` prints how the figures of two runs differ;
``python -m bench report RUN.json [--into FILE]`` turns a run into Markdown tables (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import load
from bench.figures import table

PARTS = ("billing", "text_render", "pipeline", "fairness", "jetstream", "load", "compare")
TOOLS = ("diff", "report")


def _run_part(part: str, args: argparse.Namespace) -> dict[str, Any]:
    if part == "load":
        if args.quick:
            return load.run((load.QUICK_USERS,), args.rate, load.QUICK_LATENCY_S, load.QUICK_THINK_S)
        return load.run(tuple(args.users or load.USERS), args.rate, args.latency, tuple(args.think))
    module = importlib.import_module(f"bench.{part}")
    result: dict[str, Any] = module.run(quick=args.quick)
    return result


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")


def machine(load_before: tuple[float, float, float]) -> dict[str, Any]:
    """What ran the benchmark, and how busy it was: load average (1, 5, 15 min) before and after."""
    return {
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "system": platform.platform(),
        "load_avg_before": [round(v, 2) for v in load_before],
        "load_avg_after": [round(v, 2) for v in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in TOOLS:
        tool: int = importlib.import_module(f"bench.{argv[0]}").main(argv[1:])
        return tool
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"any of: {', '.join(PARTS)}")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for tests; figures mean nothing")
    load.add_arguments(parser)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    parts = args.parts or list(PARTS)

    load_before = os.getloadavg()
    results: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    for part in parts:
        print(f"running {part}…", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            results[part] = _run_part(part, args)
        except Exception as error:
            traceback.print_exc()
            results[part] = {"error": f"{type(error).__name__}: {error}"[:200]}
        seconds[part] = round(time.monotonic() - started, 1)

    print(table(results))
    if args.json:
        report = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "quick": args.quick,
            "machine": machine(load_before),
            "seconds": seconds,
            "results": results,
        }
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return 1 if any("error" in result for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
