"""The benchmarks run: every part of ``python -m bench`` at its ``--quick`` size, and the tools on runs.

No figure is held to a target here (a shared CI machine decides those); what is checked is that each
part runs to the end without an error and writes its JSON, that ``compare`` measures both designs on
the same jobs, and that ``diff`` and ``report`` read what ``--json`` writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import diff, report

ROOT = Path(__file__).resolve().parents[1]


def _bench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _run(part: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / f"{part}.json"
    done = _bench(part, "--quick", "--json", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    run: dict[str, Any] = json.loads(out.read_text())
    assert run["quick"] is True
    assert run["machine"]["cpus"] and len(run["machine"]["load_avg_before"]) == 3
    assert "error" not in run["results"][part], run["results"][part]
    return run


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _run("compare", tmp_path_factory.mktemp("compare"))


def test_compare_runs_both_designs_on_the_same_jobs(compare_run: dict[str, Any]) -> None:
    (scenario,) = compare_run["results"]["compare"]["scenarios"].values()
    ours, theirs = scenario["ours"], scenario["baseline"]
    assert ours["jobs"] == theirs["jobs"] > scenario["limit"]
    assert ours["failed"] == theirs["failed"] == 0
    # Each design held to what it promises: ours to the account's limit, the baseline to W jobs.
    assert 0 < ours["max_in_flight"] <= scenario["limit"]
    assert 0 < theirs["max_in_flight"] <= scenario["workers"]
    assert theirs["status_polls_per_job_median"] >= 1  # polled once a second until COMPLETED
    assert theirs["overhead_p50_ms"] >= 500  # the 0.5 s sleep before fetching the result
    assert set(ours["peak_pss_mb_by_process"]) == {"fal-runner", "nats-server"}
    assert len(theirs["peak_pss_mb_by_process"]) == scenario["workers"]


def test_report_writes_the_run_between_the_markers(compare_run: dict[str, Any], tmp_path: Path) -> None:
    run_file = tmp_path / "run.json"
    run_file.write_text(json.dumps(compare_run))
    document = tmp_path / "PERFORMANCE.md"
    document.write_text(
        f"# Performance\n\nwritten by hand\n\n{report.BEGIN}\nold figures\n{report.END}\nafter\n"
    )

    done = _bench("report", str(run_file), "--into", str(document))

    assert done.returncode == 0, done.stderr
    text = document.read_text()
    assert text.startswith("# Performance\n\nwritten by hand\n")
    assert text.endswith(f"{report.END}\nafter\n")
    assert "old figures" not in text
    assert "| W | latency | limit | ours | baseline | ours ÷ baseline |" in text
    assert (
        f"Load average (1/5/15 min): {'/'.join(map(str, compare_run['machine']['load_avg_before']))}" in text
    )


def test_report_gives_the_load_cost_curve_per_service() -> None:
    def run(cpu: float, idle: float, rss: float) -> dict[str, Any]:
        return {
            "lost": 0,
            "cpu_seconds": {"gateway-bot": cpu},
            "rss_at_start_mb": {"gateway-bot": idle},
            "peak_rss_mb": {"gateway-bot": rss},
        }

    text = report.report(
        {"results": {"load": {"users_100": run(12.5, 90.0, 150.0), "users_300": run(30.0, 151.0, 180.5)}}},
        "x",
    )

    assert (
        "| service | K=100 CPU s | K=100 idle RSS MB | K=100 peak RSS MB "
        "| K=300 CPU s | K=300 idle RSS MB | K=300 peak RSS MB |"
    ) in text
    assert "| gateway-bot | 12.5 | 90.0 | 150.0 | 30.0 | 151.0 | 180.5 |" in text
    assert "| K=300: idle RSS gateway-bot (started, before any order) | 151.0 | MB | < 150 | MISSED |" in text
    assert "| K=300: lost orders | 0 |  | 0 | ok |" in text


def test_report_refuses_a_document_without_markers() -> None:
    with pytest.raises(ValueError, match="BEGIN bench report"):
        report.into("# Performance\n", "figures\n")


def test_diff_lists_changed_figures_and_those_of_one_run_only(tmp_path: Path) -> None:
    old = {"at": "then", "results": {"pipeline": {"polls": 10, "ok": True, "gone": 1}}}
    new = {"at": "now", "results": {"pipeline": {"polls": 12, "ok": True, "added": [3]}}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(new))

    done = _bench("diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"))

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.split() == ["pipeline/polls", "10", "12", "+20.0%"] for line in lines)
    assert not any(line.startswith("pipeline/ok") for line in lines)
    assert "(1 figures unchanged)" in lines
    assert lines[lines.index("only in old:") + 1].strip() == "pipeline/gone = 1"
    assert lines[lines.index("only in new:") + 1].strip() == "pipeline/added/0 = 3"


def test_diff_names_the_change_of_every_kind_of_figure() -> None:
    assert diff.change(0.5, 0.5) == ""
    assert diff.change(200, 150) == "-25.0%"
    assert diff.change(0, 3) == "new ≠ 0"
    assert diff.change(True, False) == "changed"
    assert diff.change("a", "a") == ""


@pytest.mark.parametrize(
    "part",
    ["pipeline", "fairness", "text_render", "billing"],
)
def test_a_part_runs_at_its_quick_size(part: str, tmp_path: Path) -> None:
    run = _run(part, tmp_path)
    assert run["results"][part]


@pytest.mark.e2e
def test_load_counts_cpu_and_memory_of_every_service(tmp_path: Path) -> None:
    (figures,) = _run("load", tmp_path)["results"]["load"].values()
    assert figures["lost"] == 0
    assert set(figures["cpu_seconds"]) == set(figures["peak_rss_mb"]) >= {"gateway-bot", "fal-runner"}
