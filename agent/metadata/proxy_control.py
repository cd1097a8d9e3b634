"""The shared metadata proxy's control protocol, both ends (standard library only:
the proxy, run as a script, loads it too).

A message is a 4-byte big-endian length, then JSON; an ``add`` carries the
listening socket as ``SCM_RIGHTS``.  Every request but ``watch`` gets one reply
``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``.
"""

from __future__ import annotations

import json
import os
import socket
import struct

LENGTH = struct.Struct('>I')
MAX_MESSAGE = 1 << 20
TIMEOUT = 5.0


class ProxyError(RuntimeError):
    """The shared proxy refused a request or could not be reached."""


def frame(message: dict) -> bytes:
    data = json.dumps(message, separators=(',', ':')).encode()
    return LENGTH.pack(len(data)) + data


def request(path: str, message: dict, fd: int | None = None,
            timeout: float = TIMEOUT) -> dict:
    """One control exchange (a connection of its own: ~0.1 ms)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        if fd is None:
            sock.sendall(frame(message))
        else:
            sock.sendmsg([frame(message)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                             struct.pack('i', fd))])
        buf = b''
        while len(buf) < 4 or len(buf) < 4 + LENGTH.unpack_from(buf)[0]:
            chunk = sock.recv(65536)
            if not chunk:
                raise ProxyError(f'metadata proxy {path}: closed before answering')
            buf += chunk
    reply = json.loads(buf[4:4 + LENGTH.unpack_from(buf)[0]])
    if not reply.get('ok'):
        raise ProxyError(f'metadata proxy: {message.get("op")} '
                         f'{message.get("id", "")}: {reply.get("error")}')
    return reply


def proxies_under(state_path: str) -> list[tuple[str, int, dict[str, str]]]:
    """(control socket, pid, {resource id: key}) of every shared proxy answering
    under ``state_path`` (for netnode-netns-cleanup)."""
    base = os.path.join(state_path, 'metadata-proxy')
    try:
        entries = sorted(e for e in os.listdir(base) if e.endswith('.ctl'))
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        path = os.path.join(base, entry)
        try:
            reply = request(path, {'op': 'list'}, timeout=1.0)
        except (OSError, ProxyError, ValueError):
            continue                    # left by a dead proxy
        found.append((path, int(reply['pid']), dict(reply['listeners'])))
    return found
