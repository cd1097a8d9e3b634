"""How the plugin tells agents about changes (sent only after the commit).

:class:`Notifier` is the interface; the oslo.messaging implementation lives with
the RPC transport.  :class:`RecordingNotifier` keeps the calls in a list, for
tests and for a server running without a bus.
"""

from __future__ import annotations

import dataclasses
import threading
import logging
from typing import Any, Protocol

LOG = logging.getLogger(__name__)


class Notifier(Protocol):
    def cast_dhcp(self, host: str | None, method: str, payload: dict) -> None:
        """Cast ``method(payload=payload)`` to the DHCP agent on ``host``; None: fanout."""

    def cast_l3(self, host: str | None, method: str, **kwargs: Any) -> None:
        """Cast ``method(**kwargs)`` to the L3 agent on ``host``; None: fanout."""

    def call_l3(self, host: str, method: str, **kwargs: Any) -> None:
        """Call ``method(**kwargs)`` on the L3 agent on ``host``; failures logged, not raised."""

    def network_update(self, network: dict) -> None:
        """Fan ``network_update(network=...)`` out to every L3 agent (ML2's
        ``q-agent-notifier-network-update``); they resync the routers on it."""


@dataclasses.dataclass(frozen=True, slots=True)
class Notification:
    kind: str            # 'cast_dhcp', 'cast_l3', 'call_l3' or 'network_update'
    host: str | None
    method: str
    kwargs: dict

    @property
    def payload(self):
        return self.kwargs.get('payload')


class RecordingNotifier:
    """A Notifier that records notifications in ``self.sent`` (the last ``keep`` ones)."""

    def __init__(self, keep: int | None = None):
        self.sent: list[Notification] = []
        self.keep = keep
        self._lock = threading.Lock()

    def _record(self, kind, host, method, kwargs):
        with self._lock:
            self.sent.append(Notification(kind, host, method, kwargs))
            if self.keep is not None and len(self.sent) > self.keep:
                del self.sent[:len(self.sent) - self.keep]

    def cast_dhcp(self, host, method, payload):
        self._record('cast_dhcp', host, method, {'payload': payload})

    def cast_l3(self, host, method, **kwargs):
        self._record('cast_l3', host, method, kwargs)

    def call_l3(self, host, method, **kwargs):
        self._record('call_l3', host, method, kwargs)

    def network_update(self, network):
        self._record('network_update', None, 'network_update', {'network': network})

    def methods(self, kind=None):
        """The method names sent, in order (optionally only of one kind)."""
        return [n.method for n in self.sent if kind is None or n.kind == kind]

    def find(self, method, host=...):
        return [n for n in self.sent
                if n.method == method and (host is ... or n.host == host)]

    def clear(self):
        with self._lock:
            self.sent.clear()


def dispatch(notifier: Notifier, n: Notification) -> None:
    """Send ``n`` through ``notifier`` (whatever it raises is the caller's)."""
    if n.kind == 'cast_dhcp':
        notifier.cast_dhcp(n.host, n.method, n.kwargs['payload'])
    elif n.kind == 'network_update':
        notifier.network_update(n.kwargs['network'])
    else:
        getattr(notifier, n.kind)(n.host, n.method, **n.kwargs)


class Outbox(RecordingNotifier):
    """Notifications a transaction wants sent; delivered only after it commits.

    The server's notifier only queues them (agent.controller.delivery): a request
    thread waits for them only before its answer, bounded, and never on a bus
    that is down.
    """

    def deliver(self, notifier: Notifier) -> None:
        for n in self.sent:
            try:
                dispatch(notifier, n)
            except Exception:   # a notification must never undo a committed change
                LOG.exception('Notification %s %s to %s failed', n.kind, n.method, n.host)
