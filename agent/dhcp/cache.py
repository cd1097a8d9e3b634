"""What the DHCP agent serves right now: one entry per converged network.

Written by the reconciler after a network converged (or was torn down); read
for report_state counts, for subnet deletes that lack a network id, and by
teardown to find a network's tap and DHCP port.  Thread-safe; entries are
frozen and replaced whole.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable

from agent.model.network import Network

EVENT_MEMORY = 600.0     # seconds an assignment change by event outlives a fetch


@dataclasses.dataclass(frozen=True, slots=True)
class Served:
    """One network as last converged: the network, our DHCP port and its tap."""
    network: Network
    port_id: str
    device: str
    metadata: bool = False


class NetworkCache:
    def __init__(self):
        self._lock = threading.Lock()
        self._served: dict[str, Served] = {}

    def put(self, served: Served) -> None:
        with self._lock:
            self._served[served.network.id] = served

    def get(self, network_id: str) -> Served | None:
        with self._lock:
            return self._served.get(network_id)

    def remove(self, network_id: str) -> Served | None:
        with self._lock:
            return self._served.pop(network_id, None)

    def ids(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._served)

    def network_of_subnet(self, subnet_id: str) -> str | None:
        with self._lock:
            for served in self._served.values():
                if any(s.id == subnet_id for s in served.network.subnets):
                    return served.network.id
        return None

    def counts(self) -> dict[str, int]:
        """``networks``, ``subnets``, ``ports`` (Neutron's report_state keys)."""
        with self._lock:
            nets = list(self._served.values())
        return {'networks': len(nets),
                'subnets': sum(len(s.network.subnets) for s in nets),
                'ports': sum(len(s.network.ports) for s in nets)}


class Assignments:
    """Which networks this agent hosts: the last full fetch, amended by events.

    An event newer than the fetch that is being applied wins over it, so a
    network scheduled (or removed) while a full fetch was in flight is not lost.
    """

    def __init__(self, clock=time.monotonic):
        self._lock = threading.Lock()
        self._clock = clock
        self._ids: set[str] = set()
        self._events: dict[str, tuple[float, bool]] = {}

    def __contains__(self, network_id) -> bool:
        with self._lock:
            return network_id in self._ids

    def ids(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._ids)

    def event(self, network_id: str, assigned: bool) -> None:
        with self._lock:
            self._events[network_id] = (self._clock(), assigned)
            (self._ids.add if assigned else self._ids.discard)(network_id)

    def fetched(self, network_ids: Iterable[str], started_at: float) -> None:
        with self._lock:
            ids = set(network_ids)
            now = self._clock()
            for network_id, (at, assigned) in list(self._events.items()):
                if at >= started_at:
                    (ids.add if assigned else ids.discard)(network_id)
                elif now - at > EVENT_MEMORY:
                    del self._events[network_id]
            self._ids = ids
