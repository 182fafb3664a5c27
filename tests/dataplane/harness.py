"""The data-plane test fixture: one real ``lbaas serve`` per test module (see ``lbaas.tools.harness``).

The building blocks (``Service``, ``start_service``, ``force_cleanup``...) live in ``lbaas.tools.harness``
so the benchmarks (``bench``) use the same ones; they are re-exported here for the tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lbaas.tools.harness import (  # noqa: F401  (re-exported for the tests)
    FETCH,
    ROOT,
    LoadRun,
    Service,
    close_service,
    dataplane_available,
    force_cleanup,
    free_port,
    open_service,
    start_service,
    stop_process,
)


@pytest.fixture(scope="module")
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One ``lbaas serve`` (haproxy provider) per test module. Set ``HOST_PREFIX`` in the module (≤ 6 chars);
    ``SERVE_ARGS`` (optional) adds arguments to ``lbaas serve``."""
    reason = dataplane_available()
    if reason:
        pytest.skip(reason)
    prefix = getattr(request.module, "HOST_PREFIX", "t")
    extra = [str(a) for a in getattr(request.module, "SERVE_ARGS", ())]
    state_dir = Path(tmp_path_factory.mktemp("lbaas", numbered=True))
    svc = open_service(state_dir, prefix, extra=extra)
    try:
        yield svc
    finally:
        close_service(svc)
