"""Plug the ports of a full sync's new routers in batches, while the first ones
are already being reconciled.

One OVSDB transaction per port costs the agent an IDL update of the bridge row
(whose port list grows with the bridge) and ovs-vswitchd a reconfiguration
each: a cold start of N routers plugging its own ports was O(N^2).  So the
ports of the routers that have no namespace yet are plugged ``chunk`` routers
at a time (one transaction per bridge), which is exactly what their plans
would plug first; their reconciles then find the ports and move them.

Done before the sync's routers were queued, that took the first minute of a
cold start of a thousand routers here (20 transactions of 100 ports, each
waiting for ovs-vswitchd to make the devices), with every worker idle.  Now a
thread of its own plugs the chunks in the order the routers are queued, and a
router's reconcile waits only for its own chunk: moving and configuring the
first routers overlaps with plugging the next.  A reconcile never plugs a port
that is still to be plugged here (it waits), so the two never replace each
other's ports.  A chunk that fails is left to the routers' own reconciles.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from agent.dataplane.device import PlugPort
from agent.model.router import Router

LOG = logging.getLogger(__name__)

CHUNK = 50            # routers per batch: ~50 ports on each bridge per transaction
WAIT_POLL = 0.5       # seconds between looks at the stop flag while waiting


class PlugAhead:
    """``start(routers, plug)`` on a full sync; ``wait(router_id)`` before a
    reconcile.  ``plug(routers)`` plugs the ports of a chunk of those routers
    (their planning included), on this object's thread.
    """

    def __init__(self, stopping: threading.Event, chunk: int = CHUNK):
        self._stopping = stopping
        self._chunk = chunk
        self._cond = threading.Condition()
        self._pending: set[str] = set()
        self._thread: threading.Thread | None = None

    def start(self, routers: Sequence, plug: Callable[[list], None]) -> bool:
        """Plug ahead for ``routers`` (objects with an ``id``, in the order their
        reconciles are queued); False if a previous batch is still being plugged
        (those of this sync then plug their own ports)."""
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return False
            self._pending = {r.id for r in routers}
            if not self._pending:
                return True
            self._thread = threading.Thread(target=self._run, args=(list(routers), plug),
                                            name='l3-plug-ahead', daemon=True)
            self._thread.start()
            return True

    def wait(self, router_id: str) -> None:
        """Until ``router_id``'s ports were plugged (or given up on)."""
        with self._cond:
            while router_id in self._pending and not self._stopping.is_set():
                self._cond.wait(WAIT_POLL)

    def pending(self) -> frozenset[str]:
        with self._cond:
            return frozenset(self._pending)

    def _run(self, routers: list, plug: Callable[[list], None]) -> None:
        try:
            for i in range(0, len(routers), self._chunk):
                if self._stopping.is_set():
                    return
                chunk = routers[i:i + self._chunk]
                try:
                    plug(chunk)
                except Exception as exc:  # noqa: BLE001 - their reconciles plug them
                    LOG.warning('plugging the ports of %d routers ahead failed: %s',
                                len(chunk), exc)
                self._release(r.id for r in chunk)
        finally:
            self._release(r.id for r in routers)

    def _release(self, router_ids) -> None:
        with self._cond:
            self._pending.difference_update(router_ids)
            self._cond.notify_all()


def plug_first_ports(routers: list[Router], first_plugs: Callable[[Router], list], ovs,
                     touched: Callable[..., None],
                     apply: Callable[[Any], None] | None = None) -> None:
    """The ports these routers' plans would plug first (``first_plugs(router)``:
    their PlugPort actions, after what they need made first: with ovs_use_veth
    the namespace and the veth pairs, each ``apply``-ed here at once), one
    transaction per bridge; ``touched(*names)`` after each."""
    by_bridge: dict[str, dict] = {}
    for router in routers:
        try:
            for action in first_plugs(router):
                if not isinstance(action, PlugPort):
                    if apply is None:
                        break
                    LOG.debug('router %s: %s', router.id, action.describe())
                    apply(action)
                    continue
                specs = by_bridge.setdefault(action.bridge, {})
                first = specs.setdefault(action.port.name, action.port)
                if first.iface_id != action.port.iface_id:
                    LOG.error('router %s: port %s not plugged: its device %s would '
                              'be port %s\'s', router.id, action.port.iface_id,
                              action.port.name, first.iface_id)
        except Exception as exc:  # noqa: BLE001 - its reconcile reports it
            LOG.debug('router %s: not plugged ahead: %s', router.id, exc)
    for bridge, specs in by_bridge.items():
        chunk = list(specs.values())
        if LOG.isEnabledFor(logging.DEBUG):     # as their plans' PlugPort actions would be
            LOG.debug('bridge %s: plugging ahead:\n%s', bridge, '\n'.join(
                PlugPort(bridge, spec).describe() for spec in chunk))
        try:
            ovs.plug_ports(bridge, chunk)
            LOG.info('bridge %s: %d router ports plugged ahead of their '
                     'reconciles', bridge, len(chunk))
        except Exception as exc:  # noqa: BLE001 - the reconciles plug them
            LOG.warning('bridge %s: plugging %d router ports ahead failed: %s',
                        bridge, len(chunk), exc)
        finally:
            for spec in chunk:
                touched(spec.name)
