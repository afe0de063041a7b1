"""Fixtures and helpers shared by the gateway's tests."""

from __future__ import annotations

import sys
from pathlib import Path

# Test dirs are not packages (importlib mode): make the uniquely named helper module importable.
sys.path.insert(0, str(Path(__file__).parent))
