"""What the installed haproxy binary can do, probed once by the agent and passed to the renderer.

The renderer is pure, so it cannot run ``haproxy -vv`` itself; the agent calls ``probe()`` at start-up
and copies the answer into ``RenderOptions`` (``prometheus_exporter``). Parsing is split from running
so it can be tested on captured text.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

_VERSION = re.compile(r"^HA-?Proxy version (\d+)\.(\d+)(?:\.(\d+))?", re.MULTILINE)
_SERVICES = re.compile(r"^Available services\s*:\s*(.*)$", re.MULTILINE)


@dataclass(frozen=True)
class HaproxyFeatures:
    version: tuple[int, int, int] | None
    prometheus_exporter: bool


def parse_version_output(text: str) -> HaproxyFeatures:
    """Parse ``haproxy -vv``. The exporter counts only if listed as an available service."""
    m = _VERSION.search(text)
    version = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None
    services = _SERVICES.search(text)
    prom = bool(services and "prometheus-exporter" in services.group(1).split())
    return HaproxyFeatures(version=version, prometheus_exporter=prom)


def probe(binary: str = "/usr/sbin/haproxy", timeout: float = 10.0) -> HaproxyFeatures:
    """Run ``<binary> -vv`` and parse it. Raises OSError / CalledProcessError if it cannot run."""
    out = subprocess.run([binary, "-vv"], capture_output=True, text=True, timeout=timeout, check=True)
    return parse_version_output(out.stdout + out.stderr)
