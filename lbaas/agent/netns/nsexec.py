"""Stdlib helpers to act inside a named network namespace (the ones ``ip netns`` keeps in /run/netns).

Two ways in, each where it fits:

* ``run_in_netns(ns, fn)`` runs a Python callable in a short-lived thread that has ``setns(2)``-ed into
  the namespace. Network namespaces are per *thread*, so the caller's threads are untouched. Sockets
  created there stay in that namespace; ``/proc/sys/net`` opened there is that namespace's. This is how
  per-namespace sysctls and the gratuitous ARP are done without forking ``ip``/``sysctl``/``arping``.
* ``ip_netns_exec(ns, argv)`` builds ``ip netns exec <ns> ...`` for long-running processes (HAProxy,
  echo servers): ``ip`` execs in place (no extra process) and also remounts /sys for the namespace, and it
  avoids ``preexec_fn``, which is unsafe in a threaded agent.

``pids_in_netns`` finds processes by namespace identity (device+inode of the nsfs file), never by name:
it is what cleanup uses to end exactly the processes living in a namespace we own.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

NETNS_RUN_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000

T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


def netns_path(ns: str) -> Path:
    if not ns or "/" in ns or ns in (".", ".."):
        raise ValueError(f"bad namespace name {ns!r}")
    return NETNS_RUN_DIR / ns


def netns_exists(ns: str) -> bool:
    return netns_path(ns).exists()


def link_exists(ifname: str) -> bool:
    """An interface of this thread's namespace (sysfs is per namespace only for the mounting process,
    so ask the kernel by name instead)."""
    try:
        socket.if_nametoindex(ifname)
        return True
    except OSError:
        return False


def netns_identity(ns: str) -> tuple[int, int]:
    st = os.stat(netns_path(ns))
    return (st.st_dev, st.st_ino)


def pid_netns_identity(pid: int) -> tuple[int, int] | None:
    try:
        st = os.stat(f"/proc/{pid}/ns/net")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return (st.st_dev, st.st_ino)


def pid_in_netns(pid: int, ns: str) -> bool:
    """Whether process ``pid`` lives in network namespace ``ns`` (False if either is gone)."""
    try:
        here = netns_identity(ns)
    except OSError:
        return False
    return pid_netns_identity(pid) == here


def pids_in_netns(ns: str) -> list[int]:
    """Pids of every process whose network namespace is ``ns`` (empty if ``ns`` does not exist)."""
    try:
        ident = netns_identity(ns)
    except FileNotFoundError:
        return []
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me and pid_netns_identity(int(entry)) == ident:
            out.append(int(entry))
    return sorted(out)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


MS_BIND = 0x1000
MS_REC = 0x4000
MS_SHARED = 0x100000
_run_dir_lock = threading.Lock()
_run_dir_shared = False


def _share_run_dir() -> None:
    """Make /run/netns a shared mount point, as ``ip netns add`` does (once per process)."""
    global _run_dir_shared
    with _run_dir_lock:
        if _run_dir_shared:
            return
        os.makedirs(NETNS_RUN_DIR, exist_ok=True)
        run_dir = str(NETNS_RUN_DIR).encode()
        if _libc.mount(b"", run_dir, b"none", MS_SHARED | MS_REC, None) != 0:
            if _libc.mount(run_dir, run_dir, b"none", MS_BIND | MS_REC, None) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"bind mount of {NETNS_RUN_DIR}: {os.strerror(err)}")
            if _libc.mount(b"", run_dir, b"none", MS_SHARED | MS_REC, None) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"making {NETNS_RUN_DIR} shared: {os.strerror(err)}")
        _run_dir_shared = True


def create_netns(ns: str, init: Callable[[], None] | None = None, *, timeout: float = 30.0) -> None:
    """Create namespace ``ns`` like ``ip netns add`` (a bind mount under /run/netns), then run ``init()``
    inside it, all from one short-lived thread: ``unshare(CLONE_NEWNET)`` moves only the calling thread.
    pyroute2's ``netns.create`` forks the whole agent process instead (tens of ms under load).
    Raises FileExistsError when it exists already."""
    path = netns_path(ns)
    _share_run_dir()
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0))
    error: list[BaseException] = []
    mounted = threading.Event()

    def target() -> None:
        try:
            if _libc.unshare(CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"unshare: {os.strerror(err)}")
            me = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
            if _libc.mount(me, str(path).encode(), b"none", MS_BIND, None) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"mount of {path}: {os.strerror(err)}")
            mounted.set()
            if init is not None:
                init()
        except BaseException as e:  # re-raised in the caller's thread
            error.append(e)

    t = threading.Thread(target=target, name=f"netns-create:{ns}", daemon=True)
    t.start()
    t.join(timeout)
    if not mounted.is_set():
        try:
            path.unlink()
        except FileNotFoundError:
            pass
    if t.is_alive():
        raise TimeoutError(f"creating namespace {ns} did not finish in {timeout}s")
    if error:
        raise error[0]


def run_in_netns(ns: str, fn: Callable[[], T], *, timeout: float = 30.0) -> T:
    """Run ``fn()`` in a fresh thread switched into namespace ``ns``; return its result or re-raise."""
    fd = os.open(netns_path(ns), os.O_RDONLY | os.O_CLOEXEC)
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            _setns(fd)
            result.append(fn())
        except BaseException as e:  # re-raised in the caller's thread
            error.append(e)

    try:
        t = threading.Thread(target=target, name=f"netns:{ns}", daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            raise TimeoutError(f"call in namespace {ns} did not finish in {timeout}s")
    finally:
        os.close(fd)
    if error:
        raise error[0]
    return result[0]


def ip_netns_exec(ns: str, argv: list[str], *, ip_bin: str = "ip") -> list[str]:
    netns_path(ns)  # validates the name
    return [ip_bin, "netns", "exec", ns, *argv]


def write_sysctl(name: str, value: str | int, *, root: str = "/proc/sys") -> None:
    """Write ``net.ipv4.x=y`` style sysctl (dots become slashes; interface names may not contain dots
    here, use ``write_sysctl_path`` for those)."""
    write_sysctl_path(os.path.join(root, *name.split(".")), value)


def write_sysctl_path(path: str, value: str | int) -> None:
    with open(path, "w") as f:
        f.write(f"{value}\n")


def read_sysctl(name: str, *, root: str = "/proc/sys") -> str:
    with open(os.path.join(root, *name.split("."))) as f:
        return f.read().strip()


def raise_sysctl(name: str, minimum: int, *, root: str = "/proc/sys") -> bool:
    """Set an integer sysctl to ``minimum`` only if it is lower; never lowers. True if written."""
    if int(read_sysctl(name, root=root)) >= minimum:
        return False
    write_sysctl(name, minimum, root=root)
    return True
