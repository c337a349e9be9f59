"""The soak script runs end to end (20 s, embedded stores, one worker kill), so it cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_a_short_soak_loses_nothing(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    cmd = [sys.executable, str(REPO / "bench" / "soak.py"), "--minutes", "0.34", "--backend", "embedded"]
    done = subprocess.run(
        [
            *cmd,
            "--kill-every",
            "8",
            "--report-every",
            "10",
            "--json",
            str(report),
            "--workdir",
            str(tmp_path),
        ],
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[embedded min   1]" in done.stdout  # the per-interval line
    (result,) = json.loads(report.read_text())
    assert result["lost_turns"] == result["runs_not_completed"] == result["queue_lost"] == 0
    assert result["worker_kills"] >= 1
    # Every kind of traffic got through, and the numbers it reports are real.
    assert set(result["requests_by_kind"]) == {"chat", "stream", "run", "queue", "tool"}
    assert result["turns"] > 0 and result["runs"] > 0 and result["queue_messages"] > 0
    assert result["server_rss_mib"][1] > 0 and result["server_fds"][1] > 0
