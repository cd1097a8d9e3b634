"""Group commit of OVS plugs: concurrent ``plug_ports`` calls share one transaction.

During a full sync many reconciles plug one tap each at the same time.  Every
OVSDB transaction costs the agent an IDL update of the bridge row (its port list
grows with the bridge) and ovs-vswitchd a reconfiguration, so N transactions for
N networks cost O(N^2).  :class:`PlugBatcher` wraps an OVS driver: a caller that
finds no plug running on its bridge commits what is queued for that bridge (its
own ports and whatever arrived meanwhile) in ONE ``plug_ports``; callers that
arrive while it runs wait and go together in the next one.  Nothing waits for a
batch to fill: an idle agent plugs at once, exactly as before.

A batch that fails is retried port by port, so one bad port fails only its own
caller.  Every other attribute is the wrapped driver's.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from agent.drivers.state import PortSpec


class _Request:
    __slots__ = ('specs', 'wait', 'done', 'error')

    def __init__(self, specs: list[PortSpec], wait: bool) -> None:
        self.specs = specs
        self.wait = wait
        self.done = False
        self.error: BaseException | None = None


class PlugBatcher:
    def __init__(self, ovs) -> None:
        self._ovs = ovs
        self._cond = threading.Condition()
        self._pending: dict[str, list[_Request]] = {}
        self._busy: set[str] = set()
        self.batches = 0          # plug_ports calls made on the wrapped driver

    def __getattr__(self, name):
        return getattr(self._ovs, name)

    def plug_ports(self, bridge: str, specs: Sequence[PortSpec], wait: bool = True) -> None:
        request = _Request(list(specs), wait)
        if not request.specs:
            return
        with self._cond:
            self._pending.setdefault(bridge, []).append(request)
            while not request.done and bridge in self._busy:
                self._cond.wait()
            batch = None
            if not request.done:
                self._busy.add(bridge)
                batch = self._pending.pop(bridge)
        if batch is not None:
            try:
                self._commit(bridge, batch)
            finally:
                with self._cond:
                    for r in batch:
                        r.done = True
                    self._busy.discard(bridge)
                    self._cond.notify_all()
        if request.error is not None:
            raise request.error

    def _plug(self, bridge: str, specs: list[PortSpec], wait: bool) -> None:
        self.batches += 1
        self._ovs.plug_ports(bridge, specs, wait)

    def _commit(self, bridge: str, batch: list[_Request]) -> None:
        names = [s.name for r in batch for s in r.specs]
        if len(batch) > 1 and len(set(names)) == len(names):
            try:
                self._plug(bridge, [s for r in batch for s in r.specs],
                           any(r.wait for r in batch))
                return
            except Exception:  # noqa: BLE001 - retried one by one below
                pass
        for r in batch:
            try:
                self._plug(bridge, r.specs, r.wait)
            except BaseException as exc:  # noqa: BLE001 - raised in its caller
                r.error = exc
