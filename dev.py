#!/usr/bin/env python3
"""MediaLab bootstrap: needs only Python 3.11+ and access to PyPI.

    python3 dev.py up      # install everything into .venv and run the whole stack
    python3 dev.py test    # install everything into .venv, run the quality gates, then the test suite
    python3 dev.py smoke   # one cheapest call to each real provider, checked against its snapshot

Installs a pinned uv into .medialab/tools, syncs .venv from uv.lock (all workspace packages,
dev tools included), then hands over to the venv's Python. Extra arguments go to the
launcher (`up`), to pytest (`test`) or to the smoke check (`smoke`, needs real keys in the
environment or .env; see docs/providers/README.md).

`test` first runs the quality gates, `ruff check`, `ruff format --check` and `mypy` (configured in
pyproject.toml), and stops at the first that fails. They check the whole tree, so they run only for
a whole-suite run: when the arguments name a test path (`dev.py test services/billing -k x`), only
pytest runs; options alone (`dev.py test -x -m "not chaos"`) still run the gates first.

A whole-suite run spreads the test files over `MEDIALAB_TEST_WORKERS` pytest-xdist workers (default 3,
each with its own nats-servers and PostgreSQL; a file's tests stay on one worker, which owns its
module-scoped stack); files that start process stacks are handed out first. On two cores, three
workers were the quickest (two left a core idle while both waited on their stacks; four only added
contention), and the suite passes with three beside `stress-ng --cpu 2`. `-n 0` (or any
`-n`/`-p no:xdist` given) overrides it; a run of named paths stays in one process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import venv
from pathlib import Path

UV_VERSION = "0.13.9"
ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".medialab" / "tools"
VENV = ROOT / ".venv"


def _bin(env: Path, name: str) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin") / name


def ensure_uv() -> Path:
    uv = _bin(TOOLS, "uv")
    if not uv.exists():
        print(f"[dev] installing uv {UV_VERSION} into {TOOLS}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
        subprocess.run(
            [
                str(_bin(TOOLS, "python")),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"uv=={UV_VERSION}",
            ],
            check=True,
        )
    return uv


def sync(uv: Path) -> None:
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(VENV)}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run(
        [str(uv), "sync", "--frozen", "--all-packages", "--quiet", "--python", sys.executable],
        cwd=ROOT,
        env=env,
        check=True,
    )


# Each gate: its name and the module the venv's Python runs with these arguments.
GATES = (
    ("ruff check", ["ruff", "check", "."]),
    ("ruff format --check", ["ruff", "format", "--check", "."]),
    ("mypy", ["mypy"]),
)


def names_tests(args: list[str]) -> bool:
    """Whether pytest's arguments name a test path or node id (not only options and their values)."""
    return any(not arg.startswith("-") and Path(arg.split("::")[0]).exists() for arg in args)


def parallel(args: list[str]) -> list[str]:
    """xdist options for a whole-suite run, unless the caller chose otherwise."""
    if names_tests(args) or any(arg.startswith("-n") or arg == "no:xdist" for arg in args):
        return []
    # The plugin orders the files (process stacks first); xdist's own reorder would undo it.
    workers = os.environ.get("MEDIALAB_TEST_WORKERS", "3")
    return ["-n", workers, "--dist", "loadfile", "--no-loadscope-reorder"]


def run_gates(python: str) -> int:
    for name, args in GATES:
        started = time.monotonic()
        result = subprocess.run([python, "-m", *args])
        if result.returncode != 0:
            command = " ".join(["python", "-m", *args])
            print(f"[dev] quality gate '{name}' failed: fix what it printed ({command})", file=sys.stderr)
            return result.returncode
        print(f"[dev] {name}: ok ({time.monotonic() - started:.1f}s)", flush=True)
    return 0


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs before any venv exists
        print("MediaLab needs Python 3.11 or newer", file=sys.stderr)
        return 2
    command, rest = (argv[0], argv[1:]) if argv else ("up", [])
    if command not in ("up", "test", "sync", "smoke"):
        print(__doc__, file=sys.stderr)
        return 2
    sync(ensure_uv())
    python = str(_bin(VENV, "python"))
    os.chdir(ROOT)
    if command == "sync":
        return 0
    if command == "up":
        os.execv(python, [python, "-m", "medialab_devstack", "up", *rest])
    if command == "smoke":
        os.execv(python, [python, "-m", "medialab_devstack.smoke", *rest])
    if not names_tests(rest):
        failed = run_gates(python)
        if failed:
            return failed
    result = subprocess.run([python, "-m", "pytest", *parallel(rest), *rest])
    if result.returncode == 5:
        print("[dev] pytest collected no tests: failing on purpose", file=sys.stderr)
        return 1
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
