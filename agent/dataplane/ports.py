"""One OVS port listing per bridge shared by many reconciles (batched observation).

Listing a bridge builds an :class:`~agent.drivers.state.OvsPort` per port; doing
it once per network during a full sync of N networks costs O(N^2).  A
:class:`BridgePorts` keeps one listing for ``ttl`` seconds.  A reconcile that
plugs or unplugs a port marks its name ``touched``: the next lookup of that name
lists the bridge again, so nobody acts on a stale view of a port we changed.
Ports changed by others are seen at the latest after ``ttl``.
"""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Mapping

from agent.drivers.state import OvsPort


class BridgePorts:
    def __init__(self, ovs, bridge: str, ttl: float = 2.0, clock=time.monotonic):
        self._ovs = ovs
        self.bridge = bridge
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._ports: dict[str, OvsPort] | None = None
        self._view: Mapping[str, OvsPort] = types.MappingProxyType({})
        self._listed_at = 0.0
        self._touched: set[str] = set()
        self.listings = 0

    def _refresh(self) -> Mapping[str, OvsPort]:
        ports = {p.name: p for p in self._ovs.list_ports(self.bridge)}
        self._ports, self._listed_at = ports, self._clock()
        self._view = types.MappingProxyType(ports)
        self._touched.clear()
        self.listings += 1
        return self._view

    def snapshot(self, *names: str) -> Mapping[str, OvsPort]:
        """name -> OvsPort, fresh for ``names`` (listed again if any was touched).

        Read-only and shared: a listing is never changed once made (a refresh
        makes a new one), so no caller copies the bridge's thousands of ports."""
        with self._lock:
            stale = (self._ports is None or self._clock() - self._listed_at > self._ttl
                     or any(n in self._touched for n in names))
            return self._refresh() if stale else self._view

    def refresh(self) -> Mapping[str, OvsPort]:
        with self._lock:
            return self._refresh()

    def touched(self, *names: str) -> None:
        with self._lock:
            self._touched.update(names)
