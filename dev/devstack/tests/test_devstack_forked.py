"""A process forked from the warm fork server behaves as ``python -m module`` started cold would."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from medialab_devstack.forked import ForkedProcess
from medialab_testkit.waiting import eventually


def test_a_forked_module_runs_with_its_arguments_and_writes_its_log(tmp_path: Path) -> None:
    data = tmp_path / "in.json"
    data.write_text('{"b": 1, "a": [2]}')
    log = tmp_path / "tool.log"
    done = ForkedProcess("json.tool", ["--sort-keys", "--compact", str(data)], {}, log)
    assert done.wait(timeout=60) == 0
    assert log.read_text().strip() == '{"a":[2],"b":1}'
    assert done.returncode == done.poll() == 0


def test_a_forked_service_sees_its_environment_not_the_tests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://127.0.0.1:1/elsewhere")
    log = tmp_path / "billing.log"
    refused = ForkedProcess("billing", [], {"LOG_FORMAT": "text"}, log)
    assert refused.wait(timeout=60) == 1
    assert "database_url" in log.read_text()  # missing: the test's own setting did not leak in


async def test_a_forked_process_has_its_own_session_and_ends_by_signal(tmp_path: Path) -> None:
    server = ForkedProcess("http.server", ["--bind", "127.0.0.1", "0"], {}, tmp_path / "a.log")
    # A session of its own, as a cold start with start_new_session: a signal to its group reaches
    # none of the test's processes.
    await eventually(lambda: os.getsid(server.pid) == server.pid, what="the child's own session")
    with pytest.raises(subprocess.TimeoutExpired):
        server.wait(timeout=0.2)
    assert server.poll() is None
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=30) == -signal.SIGTERM
    server.send_signal(signal.SIGTERM)  # after its end: nothing happens

    other = ForkedProcess("http.server", ["--bind", "127.0.0.1", "0"], {}, tmp_path / "b.log")
    other.kill()
    assert other.wait(timeout=30) == -signal.SIGKILL
