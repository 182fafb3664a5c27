"""``bench/reconciler_cost.py`` runs end to end and leaves nothing behind (its figures are not checked)."""

from __future__ import annotations

import subprocess

import pytest

from bench.common import missing_requirements

pytestmark = pytest.mark.netns


def test_reconciler_cost_runs_and_cleans_up() -> None:
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    from bench.reconciler_cost import measure

    figures = measure(changes=2, passes=5)
    assert set(figures) == {"first_ms", "live_ms", "live_cpu_ms", "resync_cpu_ms"}
    assert all(v > 0 for v in figures.values())
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "qlbaas-rcb-" not in left
