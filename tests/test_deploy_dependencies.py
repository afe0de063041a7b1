"""What each production image ships: billing and prompt-llm carry neither Pillow nor httpx.

The locked dependencies of a service's image are read with ``uv export`` (what the Dockerfile's
``uv sync --package`` installs); the import check proves no module they load reaches for them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UV = ROOT / ".medialab" / "tools" / "bin" / "uv"
PROVIDER_LIBS = {"pillow", "httpx"}


def shipped(package: str) -> set[str]:
    out = subprocess.run(
        [
            str(UV),
            "export",
            "--frozen",
            "--no-dev",
            "--no-hashes",
            "--no-emit-workspace",
            "--package",
            package,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {line.split("==")[0].strip().lower() for line in out.splitlines() if "==" in line}


@pytest.mark.parametrize("package", ["medialab-billing", "medialab-prompt-llm"])
def test_services_that_open_no_image_ship_no_image_or_http_library(package: str) -> None:
    assert not shipped(package) & PROVIDER_LIBS


@pytest.mark.parametrize("package", ["medialab-fal-runner", "medialab-wavespeed-runner"])
def test_provider_runners_ship_both(package: str) -> None:
    assert PROVIDER_LIBS <= shipped(package)


@pytest.mark.parametrize("module", ["billing.app", "prompt_llm.app"])
def test_their_composition_roots_import_neither(module: str) -> None:
    probe = f"import sys, {module}; print(sorted(m for m in ('PIL', 'httpx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
