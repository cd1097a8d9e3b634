"""sd_notify(3) with the standard library: one datagram to ``$NOTIFY_SOCKET``.

The protocol is a ``KEY=VALUE\\n`` datagram on the unix socket systemd names in
``NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace).  Without it
(not started by systemd with ``Type=notify``/``WatchdogSec=``) every call is a
no-op.  Sending never blocks and never raises: a service must not stall or die
because its supervisor's socket is full or gone.
"""

from __future__ import annotations

import logging
import os
import socket

LOG = logging.getLogger(__name__)

READY = 'READY=1'
STOPPING = 'STOPPING=1'
WATCHDOG = 'WATCHDOG=1'


def _address(raw: str) -> str | bytes | None:
    if not raw:
        return None
    if raw.startswith('@'):                    # abstract namespace
        return b'\0' + raw[1:].encode()
    if raw.startswith('/'):
        return raw
    return None                                # vsock and the like: not ours


class Notifier:
    """Sends sd_notify messages to the socket of ``environ`` (os.environ)."""

    def __init__(self, environ=None):
        environ = os.environ if environ is None else environ
        self.address = _address(environ.get('NOTIFY_SOCKET', ''))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send ``lines`` as one message; whether it went out."""
        if self.address is None:
            return False
        message = '\n'.join(lines).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.sendto(message, self.address)
            return True
        except OSError as exc:
            LOG.debug('sd_notify %s: %s', message, exc)
            return False

    def ready(self, status: str = '') -> bool:
        return self.send(READY, *((f'STATUS={status}',) if status else ()))

    def status(self, text: str) -> bool:
        return self.send(f'STATUS={text}')

    def stopping(self) -> bool:
        return self.send(STOPPING)


def watchdog_interval(environ=None) -> float | None:
    """Half of ``WATCHDOG_USEC`` in seconds (sd_watchdog_enabled(3)'s advice), or
    None: no watchdog asked for, or asked of another process (``WATCHDOG_PID``)."""
    environ = os.environ if environ is None else environ
    try:
        usec = int(environ.get('WATCHDOG_USEC', '0'))
    except ValueError:
        return None
    pid = environ.get('WATCHDOG_PID')
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 2e6
