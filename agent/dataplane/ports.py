"""One OVS port listing per bridge shared by many reconciles (batched observation).

Listing a bridge builds an :class:`~agent.drivers.state.OvsPort` per port; doing
it once per network during a full sync of N networks costs O(N^2).  A
:class:`BridgePorts` keeps one listing for ``ttl`` seconds.  A reconcile that
plugs or unplugs a port marks its name ``touched``: the next lookup of that name
lists the bridge again, so nobody acts on a stale view of a port we changed.
Ports changed by others are seen at the latest after ``ttl``.

With ``reread_touched`` the touched names are read again by name instead (one
OVSDB read for all of them, :meth:`OvsDriver.find_ports`) and the rest of the
listing kept: the L3 agent's plug-ahead touches 50 routers' ports at a time,
and listing the whole bridge again after each chunk was the agent's top entry
in a cold start of 500 routers (py-spy: the OvsPort of every port, 6 % of its
CPU, growing with the bridge).
"""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Mapping

from agent.drivers.state import OvsPort


class BridgePorts:
    def __init__(self, ovs, bridge: str, ttl: float = 2.0, clock=time.monotonic,
                 reread_touched: bool = False):
        self._ovs = ovs
        self._reread_touched = reread_touched
        self.bridge = bridge
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._ports: dict[str, OvsPort] | None = None
        self._view: Mapping[str, OvsPort] = types.MappingProxyType({})
        self._listed_at = 0.0
        self._touched: set[str] = set()
        self.listings = 0
        self.rereads = 0

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
            if self._ports is None or self._clock() - self._listed_at > self._ttl:
                return self._refresh()
            if not any(n in self._touched for n in names):
                return self._view
            return self._reread() if self._reread_touched else self._refresh()

    def _reread(self) -> Mapping[str, OvsPort]:
        """The touched ports read again, the others' listing kept (a new dict:
        views handed out stay as they were)."""
        found = self._ovs.find_ports(self.bridge, sorted(self._touched))
        ports = dict(self._ports)
        for name in self._touched:
            if name in found:
                ports[name] = found[name]
            else:
                ports.pop(name, None)
        self._ports, self._view = ports, types.MappingProxyType(ports)
        self._touched.clear()
        self.rereads += 1
        return self._view

    def refresh(self) -> Mapping[str, OvsPort]:
        with self._lock:
            return self._refresh()

    def touched(self, *names: str) -> None:
        with self._lock:
            self._touched.update(names)
