"""A unix socket path left by a dead server (standard library only: the shared
metadata proxy, run as a script, loads it too)."""

from __future__ import annotations

import os
import socket
import stat


def remove_stale_socket(path: str, owner: str) -> None:
    """Remove a socket left by a dead server; refuse to steal a live one (RuntimeError
    naming ``owner``, who else could be serving it)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise RuntimeError(f'{path} exists and is not a socket: not removing it')
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)
        return
    finally:
        probe.close()
    raise RuntimeError(f'{path} is served by another process ({owner})')
