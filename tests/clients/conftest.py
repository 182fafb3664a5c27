"""A real ``lbaas serve --provider noop`` for the stock clients: its own port, state dir and log.

Each test module gets one server (module scope), stopped by its pid at teardown. When a test that
uses it fails, the tail of the server's log is added to the report.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from tests.clients.server import LOG_TAIL, Server, running_server


@pytest.fixture(scope="module")
def lbaas_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("lbaas-state")) as server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    server = getattr(item, "funcargs", {}).get("lbaas_server")
    if report.failed and isinstance(server, Server):
        report.sections.append((f"lbaas server log (pid {server.pid}, last {LOG_TAIL} lines)", server.log_tail()))
    return report
