"""``python -m bench diff OLD.json NEW.json [--all]``: how the figures of two runs differ.

Both files are what ``python -m bench --json`` writes. Every figure (a number, flag or text under
``results``) is named by its path, e.g. ``compare/scenarios/W3_latency1s_limit2/ours/overhead_p99_ms``;
the table lists the figures that changed (``--all``: every one) with both values and the change in
per cent, then the figures only one run has. The machines and their load come first: a change is
only worth as much as the two runs' conditions were alike.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

Leaf = int | float | bool | str | None


def flatten(value: Any, prefix: str = "") -> dict[str, Leaf]:
    """Every leaf of a JSON value by its ``/``-separated path (list items by their index)."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((str(n), item) for n, item in enumerate(value))
    else:
        return {prefix: value}
    leaves: dict[str, Leaf] = {}
    for key, item in items:
        leaves |= flatten(item, f"{prefix}/{key}" if prefix else str(key))
    return leaves


def _number(value: Leaf) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def change(old: Leaf, new: Leaf) -> str:
    before, after = _number(old), _number(new)
    if before is None or after is None:
        return "changed" if old != new else ""
    if before == after:
        return ""
    if before == 0:
        return "new ≠ 0"
    return f"{(after - before) / abs(before) * 100:+.1f}%"


def _text(value: Leaf) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def _conditions(run: dict[str, Any]) -> str:
    machine = run.get("machine", {})
    load = "/".join(str(v) for v in machine.get("load_avg_before", [])) or "?"
    quick = ", quick" if run.get("quick") else ""
    cpus = f"{machine.get('cpus', '?')} CPUs {machine.get('cpu', '')}".rstrip()
    return f"{run.get('at', '?')}: {cpus}, load {load}{quick}"


def diff(old: dict[str, Any], new: dict[str, Any], every: bool = False) -> str:
    before, after = flatten(old.get("results", {})), flatten(new.get("results", {}))
    shared = [path for path in before if path in after]
    width = max((len(path) for path in [*before, *after]), default=10)
    lines = [
        f"old  {_conditions(old)}",
        f"new  {_conditions(new)}",
        "",
        f"{'figure':<{width}} {'old':>12} {'new':>12} {'change':>9}",
    ]
    unchanged = 0
    for path in shared:
        delta = change(before[path], after[path])
        if not delta and not every:
            unchanged += 1
            continue
        lines.append(f"{path:<{width}} {_text(before[path]):>12} {_text(after[path]):>12} {delta:>9}")
    if unchanged:
        lines.append(f"({unchanged} figures unchanged)")
    for label, source, other in (("only in old", before, after), ("only in new", after, before)):
        only = sorted(source.keys() - other.keys())
        if only:
            lines += ["", f"{label}:", *(f"  {path} = {_text(source[path])}" for path in only)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench diff", description=__doc__)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--all", action="store_true", help="list unchanged figures too")
    args = parser.parse_args(argv)
    print(diff(json.loads(args.old.read_text()), json.loads(args.new.read_text()), every=args.all))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
