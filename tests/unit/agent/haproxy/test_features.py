"""haproxy -vv parsing (captured text) and, when the binary exists, a real probe."""

from __future__ import annotations

import os

import pytest

from lbaas.agent.haproxy.features import parse_version_output, probe

DEBIAN_26 = """HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/
Status: long-term supported branch - will stop receiving fixes around Q2 2027.
Build options :
  OPTIONS = USE_PCRE2=1 USE_PCRE2_JIT=1 USE_OPENSSL=1 USE_LUA=1 USE_SLZ=1 USE_SYSTEMD=1 USE_OT=1 USE_PROMEX=1
Built with the Prometheus exporter as a service
Available services : prometheus-exporter
Available filters :
\t[BWLIM] bwlim-in
"""

WITHOUT = """HA-Proxy version 2.0.33 2023/09/09 - https://haproxy.org/
Available services : none
"""


def test_parse_debian_26() -> None:
    f = parse_version_output(DEBIAN_26)
    assert f.version == (2, 6, 12) and f.prometheus_exporter


def test_parse_without_exporter() -> None:
    f = parse_version_output(WITHOUT)
    assert f.version == (2, 0, 33) and not f.prometheus_exporter


def test_parse_garbage() -> None:
    f = parse_version_output("bash: haproxy: command not found")
    assert f.version is None and not f.prometheus_exporter


@pytest.mark.skipif(not os.path.exists("/usr/sbin/haproxy"), reason="haproxy binary not installed")
def test_probe_installed_binary() -> None:
    f = probe()
    assert f.version is not None and f.version >= (2, 6, 0)
