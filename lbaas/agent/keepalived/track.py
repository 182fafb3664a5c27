"""HAProxy's health for keepalived: the track file (``LbPaths.track``) the agent writes, and one thread that
watches every vouched HAProxy master through a pidfd.

keepalived's ``vrrp_track_process`` does not work inside a namespace, so keepalived tracks a file
instead (``render.py``: ``0`` healthy, anything else FAULT; keepalived creates it with ``1``). The agent
writes ``0`` only once it vouches for HAProxy (``vouch``: the keepalived unit's last step of a pass that
left HAProxy running in the LB's namespace with the config it applied) and ``1`` as soon as it does not:

* the watched master exits: its pidfd becomes readable, the watcher thread writes ``1`` at once (a few
  ms; keepalived sees it through inotify and goes FAULT, its peer takes the VIP after its master-down
  timer) and calls ``on_dead(lb_id)``, so the reconciler restarts HAProxy and vouches again;
* ``fault``: a pass found no HAProxy to vouch for.

One thread for all LBs, blocked in ``poll`` on their pidfds plus a wake-up pipe; no polling loop. Every
write replaces the file whole (temporary file + rename); a write to a directory already removed (the LB
was torn down) is dropped.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

HEALTHY = "0"
FAULT = "1"


def write_track(path: Path, value: str) -> bool:
    """Replace the track file whole with ``value``; False when the LB's directory is gone."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        return False
    try:
        os.write(fd, f"{value}\n".encode())
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except FileNotFoundError:
        return False
    return True


class Tracker(Protocol):
    def vouch(self, lb_id: str, track: Path, pid: int) -> None: ...

    def fault(self, lb_id: str, track: Path) -> None: ...

    def forget(self, lb_id: str) -> None: ...

    def watching(self, lb_id: str) -> int | None: ...


@dataclass
class FakeTracker:
    """In-memory Tracker for reconciler tests: writes the track files, watches nothing (``die`` plays the
    watcher's part for a test)."""

    watched: dict[str, tuple[int, Path]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def vouch(self, lb_id: str, track: Path, pid: int) -> None:
        self.calls.append(("vouch", lb_id))
        self.watched[lb_id] = (pid, track)
        write_track(track, HEALTHY)

    def fault(self, lb_id: str, track: Path) -> None:
        self.calls.append(("fault", lb_id))
        self.watched.pop(lb_id, None)
        write_track(track, FAULT)

    def forget(self, lb_id: str) -> None:
        self.watched.pop(lb_id, None)

    def watching(self, lb_id: str) -> int | None:
        w = self.watched.get(lb_id)
        return w[0] if w is not None else None

    def die(self, lb_id: str) -> None:
        _, track = self.watched.pop(lb_id)
        write_track(track, FAULT)


@dataclass
class _Watch:
    lb_id: str
    pid: int
    track: Path
    fd: int


class HaproxyTracker:
    """Writes the track files and watches the vouched HAProxy masters (see the module docstring)."""

    def __init__(self, on_dead: Callable[[str], None] | None = None) -> None:
        self.on_dead = on_dead
        self._lock = threading.Lock()
        self._by_lb: dict[str, _Watch] = {}
        self._closing: list[int] = []  # pidfds replaced or forgotten: closed by the watcher (never reused under it)
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._thread: threading.Thread | None = None
        self._stopped = False

    # ------------------------------------------------------------------ what the agent calls

    def vouch(self, lb_id: str, track: Path, pid: int) -> None:
        """HAProxy (master ``pid``) serves the applied config: write 0 and watch it. Raises
        ProcessLookupError (after writing 1) when ``pid`` is gone already."""
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self.fault(lb_id, track)
            raise
        with self._lock:
            old = self._by_lb.get(lb_id)
            if old is not None and old.pid == pid:
                os.close(fd)
                write_track(track, HEALTHY)
                return
            if old is not None:
                self._closing.append(old.fd)
            self._by_lb[lb_id] = _Watch(lb_id, pid, track, fd)
            # written before the watcher polls the new pidfd: if the master died meanwhile, its 1 comes after
            write_track(track, HEALTHY)
            self._ensure_thread()
        self._wake()

    def fault(self, lb_id: str, track: Path) -> None:
        """No HAProxy to vouch for: write 1, stop watching."""
        self.forget(lb_id)
        write_track(track, FAULT)

    def forget(self, lb_id: str) -> None:
        """Stop watching (the LB is stopped or torn down); the file is left as it is."""
        with self._lock:
            old = self._by_lb.pop(lb_id, None)
            if old is not None:
                self._closing.append(old.fd)
        if old is not None:
            self._wake()

    def watching(self, lb_id: str) -> int | None:
        """The HAProxy master pid vouched for (None: not vouched by this process)."""
        with self._lock:
            w = self._by_lb.get(lb_id)
            return w.pid if w is not None else None

    def close(self) -> None:
        with self._lock:
            self._stopped = True
            thread = self._thread
        self._wake()
        if thread is not None:
            thread.join(timeout=5)
        with self._lock:
            for w in self._by_lb.values():
                os.close(w.fd)
            self._by_lb.clear()
            for fd in self._closing:
                os.close(fd)
            self._closing.clear()
        os.close(self._wake_r)
        os.close(self._wake_w)

    # ------------------------------------------------------------------ the watcher

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # the pipe is full: a wake-up is pending anyway

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="haproxy-track", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopped:
                    return
                for fd in self._closing:
                    os.close(fd)
                self._closing.clear()
                fds = {w.fd: w for w in self._by_lb.values()}
            poller = select.poll()
            poller.register(self._wake_r, select.POLLIN)
            for fd in fds:
                poller.register(fd, select.POLLIN)
            try:
                events = poller.poll()
            except InterruptedError:
                continue
            dead: list[_Watch] = []
            for fd, _ in events:
                if fd == self._wake_r:
                    try:
                        while os.read(self._wake_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                    continue
                with self._lock:
                    w = fds.get(fd)
                    # still the same watch (forget/vouch close pidfds only through this thread, so fd is it)
                    if w is None or self._by_lb.get(w.lb_id) is not w:
                        continue
                    del self._by_lb[w.lb_id]
                    self._closing.append(w.fd)
                    write_track(w.track, FAULT)
                dead.append(w)
            for w in dead:
                log.warning("HAProxy %d of %s exited: track file set to FAULT", w.pid, w.lb_id)
                if self.on_dead is not None:
                    try:
                        self.on_dead(w.lb_id)
                    except Exception:  # the next resync repairs it anyway
                        log.exception("could not queue %s after its HAProxy died", w.lb_id)


__all__ = ["FAULT", "HEALTHY", "FakeTracker", "HaproxyTracker", "Tracker", "write_track"]
