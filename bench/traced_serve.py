"""``lbaas serve`` with the agent's steps timed (``python -m bench ... --trace``), to say where the time goes.

Wraps, from the outside and without changing them, the steps of one reconcile (read the desired
state, plumb, render, ``haproxy -c``, start or reload, report) and appends one line per call to the
file named by ``BN_TRACE_LOG``: ``<monotonic end> <label> <milliseconds>``. The benchmark then sums
the steps that ended inside each sample's window. Used only for diagnosis: the figures in the tables
come from untraced runs unless the doc says otherwise.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()


def _log(label: str, start: float) -> None:
    end = time.monotonic()
    with _lock, open(os.environ["BN_TRACE_LOG"], "a") as f:
        f.write(f"{end:.6f} {label} {(end - start) * 1000:.3f}\n")


def _timed(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            _log(label, start)

    return wrapper


def install() -> None:
    from lbaas.agent import reconciler, remote, reporter, source
    from lbaas.agent.haproxy import process, unit
    from lbaas.agent.netns import pyroute2_plumber

    targets: list[tuple[Any, str, str]] = [
        (reconciler.Reconciler, "reconcile", "reconcile (total)"),
        (source.DbSource, "get", "read desired state"),
        (pyroute2_plumber.Pyroute2Plumber, "ensure_bridge", "plumb: bridge"),
        (pyroute2_plumber.Pyroute2Plumber, "ensure_namespace", "plumb: namespace"),
        (pyroute2_plumber.Pyroute2Plumber, "ensure_port", "plumb: port + GARP"),
        (process.MasterWorkerHaproxy, "check", "haproxy -c"),
        (reconciler.Reconciler, "_save_server_state", "save server state"),
        (process.MasterWorkerHaproxy, "runtime", "runtime API command"),
        (process.MasterWorkerHaproxy, "ensure_running", "haproxy start"),
        (process.MasterWorkerHaproxy, "reload", "haproxy reload"),
        (reporter.DbReporter, "applied", "report applied"),
        (remote.ApiSource, "get", "read desired state"),
        (remote.ApiReporter, "applied", "report applied"),
    ]
    for cls, name, label in targets:
        setattr(cls, name, _timed(label, getattr(cls, name)))
    unit.render_haproxy = _timed("render", unit.render_haproxy)


def main() -> None:
    install()
    from lbaas.cli import main as lbaas_main

    sys.argv = ["lbaas", *sys.argv[1:]]
    lbaas_main()


if __name__ == "__main__":
    main()
