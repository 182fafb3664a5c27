"""Where an LB's access log lives on its agent host, and reading its tail (lbaas.agent.accesslog writes it)."""

from __future__ import annotations

import os
from pathlib import Path

ACCESS_LOG = "access.log"
MAX_TAIL = 10000


def access_log_path(state_dir: Path, lb_id: str) -> Path:
    """``<state_dir>/lb/<lb_id>/access.log`` (the LB's directory, see lbaas.agent.paths)."""
    if not lb_id or "/" in lb_id or lb_id in (".", "..") or "\0" in lb_id:
        raise ValueError(f"bad load balancer id {lb_id!r}")
    return state_dir / "lb" / lb_id / ACCESS_LOG


def tail(path: Path, n: int) -> list[str]:
    """The last ``n`` lines of the log (reaching into ``.1`` when the current file has fewer)."""
    n = max(0, min(n, MAX_TAIL))
    if n == 0:
        return []
    lines: list[str] = []
    for p in (path, path.with_name(f"{path.name}.1")):
        try:
            with open(p, "rb") as f:
                f.seek(0, os.SEEK_END)
                end = f.tell()
                chunk = b""
                pos = end
                while pos > 0 and chunk.count(b"\n") <= n - len(lines):
                    step = min(65536, pos)
                    pos -= step
                    f.seek(pos)
                    chunk = f.read(step) + chunk
        except FileNotFoundError:
            continue
        got = [ln.decode("utf-8", "replace") for ln in chunk.splitlines() if ln]
        lines = got[-(n - len(lines)) :] + lines if n > len(lines) else lines
        if len(lines) >= n:
            break
    return lines[-n:]
