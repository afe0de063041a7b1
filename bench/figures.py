"""The figures of each part's result that the table shows, with their targets where they have one."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import load


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


def _fairness_rows(_: dict[str, Any]) -> list[Row]:
    limits = importlib.import_module("bench.pipeline").LIMITS
    rows = []
    for name, limit in limits.items():
        rows += [
            Row(
                f"{name} (limit {limit}): slot utilisation",
                (f"utilisation_{name}_{limit}",),
                "",
                ">= 0.95",
                _at_least(0.95),
            ),
            Row(
                f"{name} (limit {limit}): most open at once",
                (f"max_in_flight_{name}",),
                "",
                f"<= {limit}",
                _at_most(limit),
            ),
        ]
    return [
        *rows,
        Row("status polls per job, median", ("status_polls_per_job_median",)),
        Row("failed jobs", ("failed_jobs",), "", "0", _equals(0)),
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
        for service in figures.get("cpu_seconds", {}):
            rows.append(Row(f"K={k}: CPU {service}", (run_name, "cpu_seconds", service), "s"))
        memory = (
            ("rss_at_start_mb", "idle RSS {} (started, before any order)", load.TARGET_IDLE_RSS_MB),
            ("peak_rss_mb", "peak RSS {}", load.TARGET_RSS_MB),
        )
        for key, label, target in memory:
            for service in figures.get(key, {}):
                rows.append(
                    Row(
                        f"K={k}: {label.format(service)}",
                        (run_name, key, service),
                        "MB",
                        f"< {target:.0f}",
                        _below(target),
                    )
                )
    return rows


ROWS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "billing": _billing_rows,
    "text_render": _text_render_rows,
    "pipeline": _pipeline_rows,
    "jetstream": _jetstream_rows,
    "fairness": _fairness_rows,
    "load": _load_rows,
}


@dataclass(frozen=True)
class Figure:
    """One figure as the table and the report print it."""

    label: str
    value: Any
    unit: str
    target: str
    verdict: str  # "ok", "MISSED" or "" (no target)


def _lookup(result: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = result
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return "—" if value is None else str(value)


def part_figures(part: str, result: dict[str, Any]) -> list[Figure]:
    """The figures of a part that has rows (every part but ``compare``, which is a table of its own)."""
    figures = []
    for row in ROWS[part](result):
        value = _lookup(result, row.path)
        verdict = ""
        if row.meets is not None and value is not None:
            verdict = "ok" if row.meets(value) else "MISSED"
        figures.append(Figure(row.label, value, row.unit, row.target, verdict))
    return figures


def table(results: dict[str, dict[str, Any]]) -> str:
    """Every part's figures in one table; ``compare``'s side-by-side table after it."""
    lines = [f"{'part':<12} {'figure':<42} {'value':>10} {'unit':<7} {'target':<9} verdict"]
    tables = []
    for part, result in results.items():
        if "error" in result:
            lines.append(f"{part:<12} {'did not run: ' + result['error']}")
        elif part in ROWS:
            for f in part_figures(part, result):
                lines.append(
                    f"{part:<12} {f.label:<42} {format_value(f.value):>10} {f.unit:<7} {f.target:<9} "
                    f"{f.verdict}".rstrip()
                )
        else:
            tables.append(importlib.import_module(f"bench.{part}").table(result))
    return "\n\n".join(["\n".join(lines), *tables] if len(lines) > 1 else tables)
