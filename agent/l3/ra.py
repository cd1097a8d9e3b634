"""A router's radvd: started, reloaded or stopped after the router's devices.

The radvd a router needs (:mod:`agent.l3.radvd`, None if none) is a child like
any other (:mod:`agent.process.children`): started, SIGHUPed when its config
changed, restarted when its argv changed, adopted after an agent restart, or
stopped with its config file removed when no RA subnet is left.  A converged
router plans nothing.
"""

from __future__ import annotations

import logging

from agent.l3 import radvd
from agent.model.router import Router
from agent.process.children import Children
from agent.reconcile.plan import Plan

LOG = logging.getLogger(__name__)


class RouterAdvertisements:
    """The radvd children of the routers of one agent."""

    def __init__(self, children: Children, settings: radvd.RaSettings):
        self.children = children
        self.settings = settings

    def reconcile(self, router: Router) -> Plan:
        """Start, reload or stop ``router``'s radvd (after its qr- devices are in place)."""
        desired = radvd.desired_spec(router, self.settings)
        spec = desired or radvd.process_spec(router.id, self.settings)
        plan = self.children.plan(spec, wanted=desired is not None)
        self.children.run(plan, f'router {router.id} radvd', LOG)
        return plan

    def remove(self, router_id: str) -> Plan:
        """Stop ``router_id``'s radvd and delete its config (before its namespace goes)."""
        plan = self.children.plan(radvd.process_spec(router_id, self.settings), wanted=False)
        self.children.run(plan, f'router {router_id} radvd', LOG)
        return plan

    def orphans(self, known) -> set[str]:
        """Routers not in ``known`` whose radvd of ours still runs (for a full sync's
        prune: their teardown stops it, even with their namespace gone)."""
        return {p.uuid for p in self.children.processes.list_running(
            radvd.SERVICE, self.settings.pid_dir) if p.uuid not in known}
