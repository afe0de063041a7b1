"""``python -m bench [PART ...] [--json PATH]``: run MediaLab's benchmarks and print one table.

Parts: ``billing`` (reserve+settle pairs/s), ``text_render`` (M5 render time and memory),
``pipeline`` (fal slot utilisation per account, status polls per job, per-job overhead, one runner's
throughput), ``jetstream`` (acknowledged job publishes/s into JOBS with one and three copies) and
``load`` (K users end to end, see ``bench/load.py``; ``--users``, ``--rate``,
``--latency``, ``--think`` apply to it). No part named: all of them. ``--json PATH`` also writes
every figure, for comparing runs. Run from the repository root.
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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import load

PARTS = ("billing", "text_render", "pipeline", "jetstream", "load")


@dataclass(frozen=True)
class Row:
    """One figure of the table: where it is in a part's result, and its target if it has one."""

    label: str
    path: tuple[str, ...]
    unit: str = ""
    target: str = ""
    meets: Callable[[Any], bool] | None = None


def _below(limit: float) -> Callable[[Any], bool]:
    return lambda value: value < limit


def _at_most(limit: float) -> Callable[[Any], bool]:
    return lambda value: value <= limit


def _at_least(limit: float) -> Callable[[Any], bool]:
    return lambda value: value >= limit


def _equals(expected: object) -> Callable[[Any], bool]:
    return lambda value: value == expected


def _billing_rows(result: dict[str, Any]) -> list[Row]:
    rows = [
        Row(f"reserve+settle, {n} clients", ("median_pairs_per_s", n), "pairs/s")
        for n in result.get("median_pairs_per_s", {})
    ]
    if rows:
        last = rows[-1]
        target = result.get("target_at_64", 1000)
        rows[-1] = Row(last.label, last.path, last.unit, f">= {target}", _at_least(target))
    return rows


def _text_render_rows(result: dict[str, Any]) -> list[Row]:
    module = importlib.import_module("bench.text_render")
    rows = []
    for size in result:
        dims = tuple(int(v) for v in size.split("x"))
        target_ms = module.TARGET_MS.get(dims)
        rows.append(
            Row(
                f"render {size}, median",
                (size, "median_ms"),
                "ms",
                f"< {target_ms:.0f}" if target_ms else "",
                _below(target_ms) if target_ms else None,
            )
        )
        rows.append(Row(f"render {size}, p99", (size, "p99_ms"), "ms"))
        rows.append(
            Row(
                f"render {size}, peak RSS",
                (size, "peak_rss_mb"),
                "MB",
                f"< {module.TARGET_RSS_MB:.0f}",
                _below(module.TARGET_RSS_MB),
            )
        )
    return rows


def _pipeline_rows(_: dict[str, Any]) -> list[Row]:
    module = importlib.import_module("bench.pipeline")
    rows = [
        Row(
            f"slot utilisation, account at limit {limit}",
            (f"utilisation_{name}_{limit}",),
            "",
            ">= 0.95",
            _at_least(0.95),
        )
        for name, limit in module.LIMITS.items()
    ]
    return [
        *rows,
        Row("status polls per 2 s job, p99", ("status_polls_per_job_p99",), "", "<= 20", _at_most(20)),
        Row("status polls per 2 s job, median", ("status_polls_per_job_median",)),
        Row("published → provider submit, p50", ("publish_to_submit_p50_ms",), "ms", "< 20", _below(20)),
        Row("published → provider submit, p99", ("publish_to_submit_p99_ms",), "ms", "< 100", _below(100)),
        # Bounded by the poll cadence (0.1 s, fal's own client's): see bench/pipeline.py.
        Row("provider done → succeeded event, p50", ("done_to_event_p50_ms",), "ms", "< 100", _below(100)),
        Row("provider done → succeeded event, p99", ("done_to_event_p99_ms",), "ms", "< 200", _below(200)),
        Row("one runner, zero-latency provider", ("jobs_per_s_one_runner",), "jobs/s"),
        Row("failed jobs", ("failed_jobs",), "", "0", _equals(0)),
    ]


def _jetstream_rows(_: dict[str, Any]) -> list[Row]:
    return [
        Row("JOBS publishes, 1 server, 1 copy", ("jobs_publish_per_s_r1",), "msg/s"),
        Row("JOBS publishes, 3-node cluster, 3 copies", ("jobs_publish_per_s_r3",), "msg/s"),
    ]


def _load_rows(result: dict[str, Any]) -> list[Row]:
    rows = []
    for run_name, figures in result.items():
        k = run_name.removeprefix("users_")
        rows += [
            Row(f"K={k}: delivered", (run_name, "jobs_per_s"), "jobs/s"),
            Row(f"K={k}: lost orders", (run_name, "lost"), "", "0", _equals(0)),
            Row(f"K={k}: failed orders", (run_name, "failed"), "", "0", _equals(0)),
            Row(f"K={k}: left PENDING", (run_name, "pending_after"), "", "0", _equals(0)),
            Row(f"K={k}: Telegram 429s", (run_name, "telegram_429"), "", "0", _equals(0)),
            Row(f"K={k}: overhead p50", (run_name, "overhead_ms", "p50"), "ms"),
            Row(f"K={k}: overhead p95", (run_name, "overhead_ms", "p95"), "ms"),
            Row(
                f"K={k}: overhead p99",
                (run_name, "overhead_ms", "p99"),
                "ms",
                f"< {load.TARGET_P99_MS:.0f}",
                _below(load.TARGET_P99_MS),
            ),
            Row(f"K={k}: «задача принята» sent, p99", (run_name, "status_message_ms", "p99"), "ms"),
            Row(f"K={k}: overhead after it, p99", (run_name, "overhead_after_status_ms", "p99"), "ms"),
            Row(f"K={k}: ledger consistent", (run_name, "ledger_consistent"), "", "True", _equals(True)),
        ]
        for service in figures.get("peak_rss_mb", {}):
            rows.append(
                Row(
                    f"K={k}: peak RSS {service}",
                    (run_name, "peak_rss_mb", service),
                    "MB",
                    f"< {load.TARGET_RSS_MB:.0f}",
                    _below(load.TARGET_RSS_MB),
                )
            )
    return rows


ROWS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "billing": _billing_rows,
    "text_render": _text_render_rows,
    "pipeline": _pipeline_rows,
    "jetstream": _jetstream_rows,
    "load": _load_rows,
}


def _lookup(result: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = result
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return "—" if value is None else str(value)


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'part':<12} {'figure':<42} {'value':>10} {'unit':<7} {'target':<9} verdict"]
    for part, result in results.items():
        if "error" in result:
            lines.append(f"{part:<12} {'did not run: ' + result['error']}")
            continue
        for row in ROWS[part](result):
            value = _lookup(result, row.path)
            verdict = ""
            if row.meets is not None and value is not None:
                verdict = "ok" if row.meets(value) else "MISSED"
            lines.append(
                f"{part:<12} {row.label:<42} {_format(value):>10} {row.unit:<7} {row.target:<9} {verdict}"
            )
    return "\n".join(lines)


def _run_part(part: str, args: argparse.Namespace) -> dict[str, Any]:
    if part == "load":
        return load.run(tuple(args.users or load.USERS), args.rate, args.latency, tuple(args.think))
    module = importlib.import_module(f"bench.{part}")
    result: dict[str, Any] = module.run()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"any of: {', '.join(PARTS)}")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    load.add_arguments(parser)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    parts = args.parts or list(PARTS)

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
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "system": platform.platform(),
            },
            "seconds": seconds,
            "results": results,
        }
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return 1 if any("error" in result for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
