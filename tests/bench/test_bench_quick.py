"""Every benchmark's --quick mode still runs end to end (the numbers are not checked; see docs/benchmarks.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import BENCHMARKS
from bench.common import missing_requirements

pytestmark = pytest.mark.netns
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)
def test_every_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path), "--no-doc"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=840,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    for name in BENCHMARKS:
        assert f"({name} took" in r.stdout, name
    for name in BENCHMARKS:
        assert (tmp_path / f"{name}.csv").stat().st_size > 0
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Traceback" not in r.stderr
