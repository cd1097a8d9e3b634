"""Floating-IP statuses for ``update_floatingip_statuses``: only what changed.

After each reconcile of a router the agent knows which floating IPs are in
place (ACTIVE), which failed (ERROR, when the router's plan failed) and which
went away (DOWN).  A status is sent only when it differs from what the server
knows (what this agent last sent or saw agreed, else the ``status`` in
``sync_routers``), so a converged router costs no call.  A failed call is retried on the
next reconcile (nothing is remembered as sent).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from agent.l3.nat import active_floating_ips
from agent.model.router import Router

LOG = logging.getLogger(__name__)

ACTIVE = 'ACTIVE'
DOWN = 'DOWN'
ERROR = 'ERROR'


def current_statuses(router: Router | None, ok: bool) -> dict[str, str]:
    """fip id -> the status the router's floating IPs have on this host now."""
    if router is None:
        return {}
    active = ({f.id for f in active_floating_ips(router)}
              if router.gw_port is not None else set())
    return {f.id: (ACTIVE if f.id in active else DOWN) if ok else ERROR
            for f in router.floating_ips}


def status_changes(router: Router | None, ok: bool,
                   last_sent: Mapping[str, str]) -> dict[str, str]:
    """The statuses to send: changed ones, and DOWN for floating IPs that left."""
    server = {f.id: f.status for f in router.floating_ips} if router else {}
    now = current_statuses(router, ok)
    changes = {fip_id: status for fip_id, status in now.items()
               if status != last_sent.get(fip_id, server.get(fip_id))}
    for fip_id in last_sent:
        if fip_id not in now and last_sent[fip_id] != DOWN:
            changes[fip_id] = DOWN
    return changes


class FloatingIpStatusReporter:
    """Keeps what was sent per router; ``report()`` after each reconcile."""

    def __init__(self, send: Callable[[str, dict[str, str]], None]):
        self._send = send
        self._lock = threading.Lock()
        self._sent: dict[str, dict[str, str]] = {}
        self.calls = 0

    def report(self, router_id: str, router: Router | None, ok: bool) -> dict[str, str]:
        with self._lock:
            last = dict(self._sent.get(router_id, {}))
        changes = status_changes(router, ok, last)
        if not changes:
            self._remember(router_id, current_statuses(router, ok))
            return {}
        try:
            self._send(router_id, changes)
        except Exception as exc:  # noqa: BLE001 - retried at the next reconcile
            LOG.warning('router %s: update_floatingip_statuses failed: %s', router_id, exc)
            return {}
        self.calls += 1
        self._remember(router_id, current_statuses(router, ok))
        LOG.info('router %s: floating IP statuses sent: %s', router_id, changes)
        return changes

    def _remember(self, router_id: str, statuses: dict[str, str]) -> None:
        """What the server now knows of the router's floating IPs."""
        with self._lock:
            if statuses:
                self._sent[router_id] = statuses
            else:
                self._sent.pop(router_id, None)
