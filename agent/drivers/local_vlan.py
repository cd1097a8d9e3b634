"""Per-network local VLAN tags on the integration bridge, kept in OVSDB.

The map lives in the bridge's ``external_ids`` (``netnode-vlan-<network id>`` =
tag), so every process on the host (DHCP agent, L3 agent, probes) agrees. An
allocation is a compare-and-swap: the transaction ``wait``s for the bridge's
external_ids to be what this process read, so if another process changed them
in between, OVSDB rejects it and the allocation is made again on fresh data
(once the replica has the other process's change), where its choice is
visible. Tags are the lowest free in 1..4094.

The one place allocations are batched (:meth:`LocalVlans.tags_for`): the networks
asked for at once (a full sync's, by either agent), and those other threads ask
for while a transaction is being committed, go together in the next one.  Every
transaction rewrites the bridge's external_ids map, which grows with the
networks.  Measured here with 1000 networks (a private netdev bridge without ports,
load ~20): one transaction for all, 0.14 s CPU in the process and 0.05 s in
ovs-vswitchd; 32 threads asking one each, 78 transactions, 2.7 s and 0.96 s; one
thread asking one after the other, 1000 transactions, 7.0 s and 4.9 s (52 s).

A network's tag is read by its key (``LocalVlans._known``), not from the whole map:
at 1000 networks converting the column to a dict took 2.5 ms CPU and parsing it
0.35 ms, on every read (the reason both agents kept the tags a full sync had
read); one key costs 0.01 ms.  So the agents ask the driver for a network's tag
when they need it and keep none themselves.

With ``[ovs] local_vlan_tagging = False`` an L2 agent owns the tags: ports get the
dead VLAN 4095 (as Neutron plugs them) and nothing is allocated here.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, List, Sequence, Tuple, cast

from agent.drivers import Ovs, commands
from agent.drivers import ovsdb_ops as ops
from agent.drivers.ovs import OvsDriver
from agent.drivers.ovs import bridge_row as _bridge
from agent.drivers.ovsdb_client import TransactionError
from agent.drivers.state import (
    DEAD_VLAN, DriverError, key_for, lowest_free, tags_in)

LOG = logging.getLogger(__name__)
# Attempts of an allocation whose compare-and-swap failed (another process
# changed the map meanwhile), each on the replica once it has changed.
CAS_ATTEMPTS = 20


def plan_allocation(external_ids: Dict[str, str], network_ids: Sequence[str]
                    ) -> Tuple[Dict[str, int], Dict[str, str]]:
    """(network id -> tag of each of ``network_ids`` that has or gets one, the new
    keys to add): the lowest free tags (pure)."""
    current = tags_in(external_ids)
    result, new = {}, {}
    for network_id in network_ids:
        if network_id in current:
            result[network_id] = current[network_id]
            continue
        tag = lowest_free(current.values())
        if tag is None:
            continue
        new[key_for(network_id)] = str(tag)
        current[network_id] = result[network_id] = tag
    return result, new


class LocalVlans:
    """Local VLAN tags of networks on one integration bridge."""

    def __init__(self, ovs: OvsDriver, bridge: str, enabled: bool = True) -> None:
        self.ovs = ovs
        self.bridge = bridge
        self.enabled = enabled
        self._cond = threading.Condition()
        self._pending: List[list] = []      # [network id, tag or None, error or None]
        self._busy = False
        self.commits = 0                    # allocation transactions made

    @classmethod
    def from_conf(cls, conf: Any, ovs: Ovs) -> 'LocalVlans':
        """``ovs``: an agent's OVS driver, a real one (an :class:`OvsDriver` or a
        PlugBatcher over one): tags are kept in OVSDB through its ``api``."""
        return cls(cast(OvsDriver, ovs), conf.ovs.integration_bridge,
                   conf.ovs.local_vlan_tagging)

    def allocations(self) -> Dict[str, int]:
        """network id -> tag, as kept in OVSDB (read from the local replica)."""
        return tags_in(dict(_bridge(self.ovs.api, self.bridge).external_ids))

    def tag_for(self, network_id: str) -> int:
        """The network's local VLAN, allocated on first use (1..4094, lowest free)."""
        return self.tags_for([network_id])[network_id]

    def _known(self, network_ids: Sequence[str]) -> Dict[str, int]:
        """network id -> tag of those of ``network_ids`` that have one, each read by
        its key from the replica's row (a dict, never changed once there): at 1000
        networks converting the whole map took 2.5 ms, one key 0.01 ms.  No lock:
        an L3 reconcile reading its tags behind ovsdbapp's connection lock, held
        while a transaction waited for ovs-vswitchd, waited behind every plug in
        flight (tests/functional/l3/test_l3_agent.py took 110-128 s instead of
        52-71 s)."""
        ids = _bridge(self.ovs.api, self.bridge).external_ids
        found = {}
        for network_id in network_ids:
            value = ids.get(key_for(network_id))
            if value is not None and value.isdigit():
                found[network_id] = int(value)
        return found

    def tags_for(self, network_ids: Sequence[str]) -> Dict[str, int]:
        """The networks' local VLANs, those missing allocated in one transaction with
        whatever other threads ask for meanwhile (see the module docstring)."""
        known = self._known(network_ids)
        missing = [n for n in dict.fromkeys(network_ids) if n not in known]
        tags = self._group_commit(missing) if missing else {}
        return {n: known[n] if n in known else tags[n] for n in network_ids}

    def _group_commit(self, network_ids: List[str]) -> Dict[str, int]:
        """The first caller commits what is queued; callers arriving meanwhile wait
        and go together in the next transaction."""
        requests: List[list] = [[n, None, None] for n in network_ids]

        def done() -> bool:
            return all(r[1] is not None or r[2] is not None for r in requests)
        with self._cond:
            self._pending.extend(requests)
            while self._busy and not done():
                self._cond.wait()
            batch = None
            if not done():
                self._busy, batch, self._pending = True, self._pending, []
        if batch is not None:
            try:
                self._commit(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
        for r in requests:
            if r[2] is not None:
                raise r[2]
        return {r[0]: r[1] for r in requests}

    def _allocate(self, network_ids: Sequence[str]) -> Dict[str, int]:
        """Allocate in one transaction, verified (see the module docstring); made
        again on the replica's new map when another process changed it meanwhile."""
        self.commits += 1
        api = self.ovs.api
        which = (f'network {network_ids[0]}' if len(network_ids) == 1
                 else f'{len(network_ids)} networks')
        for _ in range(CAS_ATTEMPTS):
            row = _bridge(api, self.bridge)
            result, new = plan_allocation(row.external_ids, network_ids)
            if not new:
                return result
            for key, tag in new.items():
                LOG.debug('%s', commands.ovs_set_bridge_key(self.bridge, key, tag))
            try:
                api.transact(ops.set_bridge_keys(self.bridge, row.external_ids, new))
                return result
            except DriverError as exc:
                if not (isinstance(exc, TransactionError) and exc.op == 0):  # not the CAS
                    raise DriverError(f'bridge {self.bridge}: allocating the local VLAN of '
                                      f'{which} failed: {exc}') from exc
            self._await_change(row)
        raise DriverError(f'bridge {self.bridge}: allocating the local VLAN of {which} '
                          f'failed: the map changed {CAS_ATTEMPTS} times meanwhile')

    def _await_change(self, row: Any) -> None:
        """Until the replica's bridge row is not ``row`` (at most the OVSDB timeout)."""
        api = self.ovs.api
        api.wait_for(lambda: api.replica.by_name['Bridge'].get(self.bridge) is not row,
                     self.ovs.timeout)

    def _commit(self, batch: List[list]) -> None:
        """Fill in each request's tag or error.  A failed transaction fails the
        batch (its callers' work is retried by their queues, not here one by one:
        a thousand timeouts in a row would hold a full sync)."""
        try:
            tags = self._allocate(list(dict.fromkeys(r[0] for r in batch)))
        except BaseException as exc:  # noqa: BLE001 - handed to the callers
            for r in batch:
                r[2] = exc
            return
        for r in batch:
            if r[0] in tags:
                r[1] = tags[r[0]]
            else:
                r[2] = DriverError(f'bridge {self.bridge}: no free local VLAN for network '
                                   f'{r[0]}')

    def port_tag(self, network_id: str) -> int:
        """The tag a new port of the network gets: its local VLAN, or 4095 (dead) if
        local VLAN tagging is off."""
        return self.tag_for(network_id) if self.enabled else DEAD_VLAN

    def release(self, network_id: str) -> None:
        LOG.debug('%s', commands.ovs_remove_bridge_key(self.bridge, key_for(network_id)))
        try:
            self.ovs.api.transact([ops.remove_bridge_keys(self.bridge, [key_for(network_id)])])
        except Exception as exc:
            raise DriverError(f'bridge {self.bridge}: releasing the local VLAN of network '
                              f'{network_id} failed: {exc}') from exc
