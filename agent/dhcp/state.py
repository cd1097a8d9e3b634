"""What the DHCP agent remembers of each network: one record per network, in one map.

:class:`NetworkStates` maps a network id to a frozen :class:`NetworkState`,
replaced whole under one lock; a network's teardown is one removal.  Read for
report_state counts, for subnet deletes that lack a network id, for the echo of
our own DHCP port, by the pruner (the taps served) and by teardown (its tap).

:class:`Assignments` is kept apart on purpose: which networks the server gives
this agent is the server's decision, not the host's state.  It outlives a
teardown (a network assigned with DHCP disabled is torn down and stays
assigned) and remembers events by time, so that a full fetch older than an
event does not undo it.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable

from agent.model.network import Network

EVENT_MEMORY = 600.0     # seconds an assignment change by event outlives a fetch


@dataclasses.dataclass(frozen=True, slots=True)
class Served:
    """One network as last converged: the network, our DHCP port and its tap."""
    network: Network
    port_id: str
    device: str
    metadata: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class NetworkState:
    """Everything the agent keeps of one network between two of its reconciles."""
    fetched: Network | None = None      # as last read from the server
    served: Served | None = None        # as last converged
    ready: frozenset[tuple[str, int]] = frozenset()    # (port, revision) reported ready
    claimed: bool = False               # its namespace holds a process of ours (sweep)
    last_reload: float | None = None    # time.monotonic() of its last SIGHUP
    reloads: int = 0                    # SIGHUPs sent to its dnsmasq

    def reloaded(self, at: float) -> NetworkState:
        return dataclasses.replace(self, last_reload=at, reloads=self.reloads + 1)


EMPTY = NetworkState()


class NetworkStates:
    """network id -> :class:`NetworkState`; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._states: dict[str, NetworkState] = {}

    def get(self, network_id: str) -> NetworkState:
        with self._lock:
            return self._states.get(network_id, EMPTY)

    def change(self, network_id: str, how: Callable[[NetworkState], NetworkState]
               ) -> tuple[NetworkState, NetworkState]:
        """Replace the network's record by ``how(record)``; (before, after)."""
        with self._lock:
            before = self._states.get(network_id, EMPTY)
            self._states[network_id] = after = how(before)
            return before, after

    def update(self, network_id: str, **fields) -> None:
        self.change(network_id, lambda state: dataclasses.replace(state, **fields))

    def remove(self, network_id: str) -> NetworkState:
        """Forget the network; its last record."""
        with self._lock:
            return self._states.pop(network_id, EMPTY)

    def served(self, network_id: str) -> Served | None:
        return self.get(network_id).served

    def all_served(self) -> list[Served]:
        with self._lock:
            return [s.served for s in self._states.values() if s.served is not None]

    def all_fetched(self) -> list[Network]:
        with self._lock:
            return [s.fetched for s in self._states.values() if s.fetched is not None]

    def network_of_subnet(self, subnet_id: str) -> str | None:
        for served in self.all_served():
            if any(s.id == subnet_id for s in served.network.subnets):
                return served.network.id
        return None

    def counts(self) -> dict[str, int]:
        """``networks``, ``subnets``, ``ports`` (Neutron's report_state keys)."""
        nets = self.all_served()
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
