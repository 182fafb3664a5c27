"""schemathesis against ``/openapi.json`` of a real ``lbaas serve --provider noop``, bounded in time:
no 5xx, no status code the document does not list, no response that breaks its documented schema.

The suite runs ``ST_MAX_TIME`` seconds (default 30; about 60 s in all). The long run (docs/hostile-input.md) is the same
command with a bigger budget, e.g. ``ST_MAX_TIME=3600 ST_WORKERS=2 pytest --timeout 0 tests/hostile/test_schemathesis.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lbaas.tools.harness import start_service, stop_process

ST = shutil.which("st") or str(Path(sys.executable).with_name("st"))
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
pytestmark = pytest.mark.skipif(not os.path.exists(ST), reason="schemathesis (st) is not installed")


def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    max_time = os.environ.get("ST_MAX_TIME", "30")
    workers = os.environ.get("ST_WORKERS", "1")
    proc, endpoint, log = start_service(tmp_path, extra=["--provider", "noop"])
    try:
        run = subprocess.run(
            [ST, "run", f"{endpoint}/openapi.json", "--checks", CHECKS, "--max-time", max_time, "-w", workers,
             "--request-timeout", "30", "--no-color"],
            capture_output=True, text=True, cwd=tmp_path, timeout=float(max_time) + 240,
        )  # fmt: skip
    finally:
        stop_process(proc)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-8000:] + "\n--- server log ---\n" + log.read_text(errors="replace")[-3000:]
    assert " passed" in out and "generated" in out, out[-3000:]
