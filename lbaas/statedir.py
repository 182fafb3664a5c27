"""The state directory and everything in it are root's alone: directories 0700, files 0600.

The database (and the secret store's rows in it), the HAProxy sockets, keys and per-LB files are created
under ``umask 077``, and what an earlier version left readable is tightened at start. HAProxy's master
reads its config, certificates and server-state file as root before its workers drop to their
unprivileged user, and the workers open none of them afterwards, so nothing needs group or world bits.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def secure(state_dir: Path, *, tighten: bool = True) -> Path:
    """Set the process umask, create ``state_dir`` (0700) and, with ``tighten``, take group and world bits
    off everything under it that this user owns (symlinks are not followed)."""
    os.umask(UMASK)
    state_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(state_dir)
    if tighten:
        for root, dirs, files in os.walk(state_dir):
            for name in dirs + files:
                _tighten(Path(root) / name)
    return state_dir


def _tighten(path: Path) -> None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid() or not st.st_mode & 0o077:
        return
    try:
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077)
    except OSError:
        pass
