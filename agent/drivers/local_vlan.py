"""Per-network local VLAN tags on the integration bridge, kept in OVSDB.

The map lives in the bridge's ``external_ids`` (``netnode-vlan-<network id>`` =
tag), so every process on the host (DHCP agent, L3 agent, probes) agrees. An
allocation is a compare-and-swap: the transaction ``verify``s the bridge's
external_ids, so if another process changed them in between, OVSDB rejects it
(TRY_AGAIN) and ovsdbapp re-runs the command on fresh data, where the other
process's choice is visible. Tags are the lowest free in 1..4094.  Allocations
asked for while one is being committed (a full sync) go together in the next
transaction (one bridge update instead of one per network).

With ``[ovs] local_vlan_tagging = False`` an L2 agent owns the tags: ports get the
dead VLAN 4095 (as Neutron plugs them) and nothing is allocated here.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, List, Sequence, cast

from ovsdbapp.backend.ovs_idl import command as ovs_command
from ovsdbapp.backend.ovs_idl import transaction as ovs_transaction

from agent.drivers import Ovs, commands
from agent.drivers.ovs import OvsDriver
from agent.drivers.ovs import bridge_row as _bridge
from agent.drivers.state import (
    DEAD_VLAN, BridgeNotFound, DriverError, key_for, lowest_free, tags_in)

LOG = logging.getLogger(__name__)
def _commit(api: Any, *cmds: Any) -> None:
    """Commit ``cmds`` without waiting for ovs-vswitchd to apply the change.

    Only the bridge's external_ids change, which ovs-vswitchd has nothing to do
    for; ovsdbapp's default (ovs-vsctl's) transaction would hold the process's
    one OVSDB connection until its next reconfiguration, 0.1-1 s on a switch
    busy plugging ports, and every other transaction and read with it.
    """
    txn = ovs_transaction.Transaction(api, api.ovsdb_connection, check_error=True,
                                      log_errors=False)
    for cmd in cmds:
        txn.add(cmd)
    txn.commit()


class _Allocate(ovs_command.BaseCommand):
    """Return the networks' tags ({id: tag}), allocating the lowest free ones
    (verified CAS)."""

    def __init__(self, api: Any, bridge: str, network_ids: Sequence[str]) -> None:
        super().__init__(api)
        self.bridge = bridge
        self.network_ids = list(network_ids)

    def run_idl(self, txn: Any) -> None:
        br = _bridge(self.api, self.bridge)
        current = tags_in(dict(br.external_ids))
        result = {}
        verified = False
        for network_id in self.network_ids:
            if network_id in current:
                result[network_id] = current[network_id]
                continue
            tag = lowest_free(current.values())
            if tag is None:
                raise DriverError(f'bridge {self.bridge}: no free local VLAN for network '
                                  f'{network_id}')
            if not verified:
                br.verify('external_ids')   # fails the txn if anyone changed them meanwhile
                verified = True
            br.setkey('external_ids', key_for(network_id), str(tag))
            LOG.debug('%s', commands.ovs_set_bridge_key(self.bridge, key_for(network_id),
                                                        tag))
            current[network_id] = result[network_id] = tag
        self.result = result


class _Lookup(ovs_command.ReadOnlyCommand):
    def __init__(self, api: Any, bridge: str) -> None:
        super().__init__(api)
        self.bridge = bridge

    def run_idl(self, txn: Any) -> None:
        self.result = tags_in(dict(_bridge(self.api, self.bridge).external_ids))


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
        """network id -> tag, as kept in OVSDB (read from the local IDL copy)."""
        try:
            return _Lookup(self.ovs.api, self.bridge).execute(check_error=True,
                                                              log_errors=False)
        except BridgeNotFound:
            raise
        except Exception as exc:
            raise DriverError(f'bridge {self.bridge}: reading local VLANs failed: {exc}'
                              ) from exc

    def tag_for(self, network_id: str) -> int:
        """The network's local VLAN, allocated on first use (1..4094, lowest free)."""
        known = self.allocations().get(network_id)
        if known is not None:
            return known
        # Group commit: the first caller commits what is queued; callers arriving
        # meanwhile wait and go together in the next transaction.
        request: List[Any] = [network_id, None, None]
        with self._cond:
            self._pending.append(request)
            while request[1] is None and request[2] is None and self._busy:
                self._cond.wait()
            batch = None
            if request[1] is None and request[2] is None:
                self._busy, batch, self._pending = True, self._pending, []
        if batch is not None:
            try:
                self._commit(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
        if request[2] is not None:
            raise request[2]
        return request[1]

    def tags_for(self, network_ids: Sequence[str]) -> Dict[str, int]:
        """The tags of many networks (a full sync), the missing ones allocated in ONE
        transaction: every transaction makes ovs-vswitchd reconfigure, at a cost
        that grows with the ports it has."""
        tags = self.allocations()
        missing = [n for n in dict.fromkeys(network_ids) if n not in tags]
        if missing:
            tags.update(self._allocate(missing))
        return {n: tags[n] for n in network_ids}

    def _allocate(self, network_ids: Sequence[str]) -> Dict[str, int]:
        self.commits += 1
        cmd = _Allocate(self.ovs.api, self.bridge, network_ids)
        try:
            _commit(self.ovs.api, cmd)
        except DriverError:
            raise
        except Exception as exc:
            raise DriverError(f'bridge {self.bridge}: allocating a local VLAN for network '
                              f'{", ".join(network_ids)} failed: {exc}') from exc
        return cmd.result

    def _commit(self, batch: List[list]) -> None:
        """Fill in each request's tag or error; a failed batch is retried one by one."""
        try:
            tags = self._allocate(list(dict.fromkeys(r[0] for r in batch)))
            for r in batch:
                r[1] = tags[r[0]]
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the callers
            if len(batch) == 1:
                batch[0][2] = exc
                return
        for r in batch:
            try:
                r[1] = self._allocate([r[0]])[r[0]]
            except BaseException as exc:  # noqa: BLE001 - raised in its caller
                r[2] = exc

    def port_tag(self, network_id: str) -> int:
        """The tag a new port of the network gets: its local VLAN, or 4095 (dead) if
        local VLAN tagging is off."""
        return self.tag_for(network_id) if self.enabled else DEAD_VLAN

    def release(self, network_id: str) -> None:
        LOG.debug('%s', commands.ovs_remove_bridge_key(self.bridge, key_for(network_id)))
        try:
            _commit(self.ovs.api, self.ovs.api.db_remove(
                'Bridge', self.bridge, 'external_ids', key_for(network_id),
                if_exists=True))
        except Exception as exc:
            raise DriverError(f'bridge {self.bridge}: releasing the local VLAN of network '
                              f'{network_id} failed: {exc}') from exc
