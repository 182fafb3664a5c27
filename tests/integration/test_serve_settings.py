"""A real ``lbaas serve`` process takes its settings from the config file, the environment and its
flags, in that order: the file says provider noop and one port, the environment another port, the flag
the state directory; the process answers on the environment's port, keeps its database in the flag's
directory and reports the file's provider."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.clients.server import REPO, free_port


def test_serve_file_env_flags(tmp_path: Path) -> None:
    file_port, env_port = free_port(), free_port()
    while env_port == file_port:
        env_port = free_port()
    cfg = tmp_path / "lbaas.toml"
    file_state = tmp_path / "from-file"
    flag_state = tmp_path / "from-flag"
    cfg.write_text(f'provider = "noop"\nbind = "127.0.0.1:{file_port}"\nstate_dir = "{file_state}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "LBAAS_"))}
    env.update(PYTHONPATH=str(REPO), LBAAS_CONFIG=str(cfg), LBAAS_BIND=f"127.0.0.1:{env_port}")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lbaas.cli", "serve", "--state-dir", str(flag_state), "--log-level", "info"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                r = httpx.get(f"http://127.0.0.1:{env_port}/healthcheck", timeout=1)
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert r.text == "OK"
        assert (flag_state / "lbaas.sqlite").exists() and not file_state.exists()
        text = log.read_text()
        assert f"lbaas serving on http://127.0.0.1:{env_port} (provider noop" in text, text
        try:
            httpx.get(f"http://127.0.0.1:{file_port}/", timeout=1)
            raise AssertionError("the file's port answers although the environment overrides it")
        except httpx.TransportError:
            pass
    finally:
        proc.terminate()
        proc.wait(timeout=15)
