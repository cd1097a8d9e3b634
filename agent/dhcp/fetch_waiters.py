"""Create notifications that come while a run of their network is still to read it
wait for that read, instead of running the network once more after it.

The server casts a new network's ``network_create_end`` and ``subnet_create_end``
one right after the other (the network is scheduled with its first subnet, after
that subnet's commit).  The first starts the network's run; the second came while
that run was fetching the network, or had just been taken by a worker, for 48 of
60 networks (20 created back to back, load 1-5): as an event of a running key it
ran the network a second time, a fetch, a netlink dump of the namespace and the
dnsmasq files rendered and compared, about a quarter of the agent's CPU in such a
burst, taken from the networks still waiting for their first run.

From the moment an event queues a network's key until that run has read the
network (from the server, or a full fetch's copy), a create waits here; the read
then decides: it holds what the event announced (the network, the subnet, the
port) -> nothing more to do; it does not, or the run read nothing -> the event is
handed on (the key runs again, as it would have).  Only the read's content can
tell: the event may have been sent before the fetch and still be answered by it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from agent.model.network import Network


@dataclasses.dataclass(frozen=True, slots=True)
class Waiting:
    """An event waiting for a read: ``holds(network)`` tells whether the network
    read answers it; else it is queued with ``priority`` and ``reason``."""
    holds: Callable[[Network], bool]
    priority: int
    reason: str


class FetchWaiters:
    """The networks a run is still to read, with the events waiting for each read.

    The queue runs a network's key once at a time, and each run reads its network
    once: one entry per network id, ended by the next read.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, list[Waiting]] = {}

    def expect(self, network_id: str) -> None:
        """A run of the network is queued or started and will read it."""
        with self._lock:
            self._waiting.setdefault(network_id, [])

    def wait_or_expect(self, network_id: str, event: Waiting | None) -> bool:
        """True: ``event`` waits for the network's coming read.  False (no read
        expected, or no event that can wait): the caller queues the key, and a
        read is expected from now on.  One step, for the events of one network
        come on several threads of the RPC server at once."""
        with self._lock:
            waiting = self._waiting.get(network_id)
            if waiting is not None and event is not None:
                waiting.append(event)
                return True
            if waiting is None:
                self._waiting[network_id] = []
            return False

    def read(self, network_id: str, network: Network | None) -> list[Waiting]:
        """The run read ``network`` (None: gone, not read, or the fetch failed): the
        waiting events it does not answer, to be queued."""
        with self._lock:
            waiting = self._waiting.pop(network_id, [])
        return [w for w in waiting if network is None or not w.holds(network)]
