"""The API's listening socket: ``--bind HOST:PORT`` (TCP) or ``--bind unix:/PATH`` (a unix socket).

A unix socket is made with ``unix_socket_mode`` (0600 by default, 0660 to let the file's group in; a mode
that lets others in is refused, since noauth is allowed on a unix socket only because the file's
permissions decide who reaches it). The mode is on the socket before ``bind`` (Linux takes a socket file's
mode from the socket's inode), so the file is never reachable with a wider one, and set again after bind
to undo the umask. A stale socket file left by a dead server is replaced; a live one (something accepts on
it) or a file that is not a socket is refused. ``UnixSocket.close`` removes the file if it is still ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

UNIX_PREFIX = "unix:"


def unix_path(bind: str) -> str | None:
    """The socket path of a ``unix:/path`` bind, else None."""
    return bind[len(UNIX_PREFIX) :] if bind.startswith(UNIX_PREFIX) else None


def parse_mode(text: str) -> int:
    """``0600`` / ``660`` / ``0o660`` → the mode; refuses a mode with any bit for others, or beyond 0777."""
    try:
        mode = int(text.removeprefix("0o"), 8)
    except ValueError:
        raise ValueError(f"unix socket mode {text!r} is not an octal mode like 0600 or 0660") from None
    if mode & ~0o777:
        raise ValueError(f"unix socket mode {text!r}: only permission bits (at most 0777)")
    if mode & 0o007:
        raise ValueError(f"unix socket mode {text!r} lets every local user in: use 0600 or 0660 (the file's group)")
    if not mode & 0o600 == 0o600:
        raise ValueError(f"unix socket mode {text!r}: the owner (this server's user) needs read and write")
    return mode


def check_unix_bind(bind: str, mode: str) -> None:
    """Start-up checks of a unix bind (SystemExit with the reason)."""
    path = unix_path(bind)
    if path is None:
        return
    if not path.startswith("/"):
        raise SystemExit(f"--bind {bind}: the unix socket path must be absolute (unix:/run/lbaas/api.sock)")
    if len(os.fsencode(path)) > 107:
        raise SystemExit(f"--bind {bind}: a unix socket path is at most 107 bytes")
    try:
        parse_mode(mode)
    except ValueError as e:
        raise SystemExit(str(e)) from None


@dataclass
class UnixSocket:
    path: str
    sock: socket.socket
    ino: int

    def close(self) -> None:
        """Close the socket and remove its file, unless another server has replaced it since."""
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            if os.lstat(self.path).st_ino == self.ino:
                os.unlink(self.path)


def _remove_stale(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise SystemExit(f"refusing to replace {path}: it exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        os.unlink(path)  # a dead server's socket
        return
    finally:
        probe.close()
    raise SystemExit(f"{path} is in use: another server accepts connections on it")


def unix_socket(path: str, mode: int, backlog: int = 2048) -> UnixSocket:
    _remove_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.fchmod(sock.fileno(), mode)  # the file is created with this mode (less the umask)
        sock.bind(path)
        os.chmod(path, mode)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return UnixSocket(path=path, sock=sock, ino=os.lstat(path).st_ino)


@contextlib.contextmanager
def listening_unix(bind: str, mode: str) -> Iterator[socket.socket]:
    """The bound unix socket of ``unix:/path`` for uvicorn's ``Server.run(sockets=…)``; the file is removed after."""
    path = unix_path(bind)
    assert path is not None
    us = unix_socket(path, parse_mode(mode))
    # uvicorn handles SIGTERM itself, then raises it again once shut down: the handler before it then runs.
    # Make that a clean exit through the ``finally`` below (the default handler would kill the process first).
    previous = signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        yield us.sock
    finally:
        us.close()
        signal.signal(signal.SIGTERM, previous)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
