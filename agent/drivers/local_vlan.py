"""Per-network local VLAN tags on the integration bridge, kept in OVSDB.

The map lives in the bridge's ``external_ids`` (``netnode-vlan-<network id>`` =
tag), so every process on the host (DHCP agent, L3 agent, probes) agrees. An
allocation is a compare-and-swap: the transaction ``verify``s the bridge's
external_ids, so if another process changed them in between, OVSDB rejects it
(TRY_AGAIN) and ovsdbapp re-runs the command on fresh data, where the other
process's choice is visible. Tags are the lowest free in 1..4094.

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
from typing import Any, Dict, List, Sequence, cast

from ovs.db.data import Atom
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
    (verified CAS); those no tag is free for are left out."""

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
                continue
            if not verified:
                br.verify('external_ids')   # fails the txn if anyone changed them meanwhile
                verified = True
            br.setkey('external_ids', key_for(network_id), str(tag))
            LOG.debug('%s', commands.ovs_set_bridge_key(self.bridge, key_for(network_id),
                                                        tag))
            current[network_id] = result[network_id] = tag
        self.result = result


class _Map(ovs_command.ReadOnlyCommand):
    def __init__(self, api: Any, bridge: str) -> None:
        super().__init__(api)
        self.bridge = bridge

    def run_idl(self, txn: Any) -> None:
        self.result = tags_in(dict(_bridge(self.api, self.bridge).external_ids))


class _Row(ovs_command.ReadOnlyCommand):
    def __init__(self, api: Any, bridge: str) -> None:
        super().__init__(api)
        self.bridge = bridge

    def run_idl(self, txn: Any) -> None:
        self.result = _bridge(self.api, self.bridge)


class LocalVlans:
    """Local VLAN tags of networks on one integration bridge."""

    def __init__(self, ovs: OvsDriver, bridge: str, enabled: bool = True) -> None:
        self.ovs = ovs
        self.bridge = bridge
        self.enabled = enabled
        self._cond = threading.Condition()
        self._pending: List[list] = []      # [network id, tag or None, error or None]
        self._busy = False
        self._row: Any = None               # the bridge's IDL row (see _known)
        self.commits = 0                    # allocation transactions made

    @classmethod
    def from_conf(cls, conf: Any, ovs: Ovs) -> 'LocalVlans':
        """``ovs``: an agent's OVS driver, a real one (an :class:`OvsDriver` or a
        PlugBatcher over one): tags are kept in OVSDB through its ``api``."""
        return cls(cast(OvsDriver, ovs), conf.ovs.integration_bridge,
                   conf.ovs.local_vlan_tagging)

    def _read(self, command: Any) -> Any:
        """Run a read of the local IDL copy."""
        try:
            return command.execute(check_error=True, log_errors=False)
        except BridgeNotFound:
            raise
        except Exception as exc:
            raise DriverError(f'bridge {self.bridge}: reading local VLANs failed: {exc}'
                              ) from exc

    def allocations(self) -> Dict[str, int]:
        """network id -> tag, as kept in OVSDB (read from the local IDL copy)."""
        return self._read(_Map(self.ovs.api, self.bridge))

    def tag_for(self, network_id: str) -> int:
        """The network's local VLAN, allocated on first use (1..4094, lowest free)."""
        return self.tags_for([network_id])[network_id]

    def _known(self, network_ids: Sequence[str]) -> Dict[str, int]:
        """network id -> tag of those of ``network_ids`` that have one, each read by
        its key from the column's value as python-ovs keeps it (a ``Datum`` mapping
        ``Atom`` to ``Atom``), without the connection's lock: ovsdbapp holds it
        while a transaction waits for ovs-vswitchd (0.1-1 s on a busy switch), and
        an L3 reconcile reading its tags under it waited behind every plug in
        flight (tests/functional/l3/test_l3_agent.py took 110-128 s instead of
        52-71 s).  Each read is one dict lookup, atomic under the GIL; the row is
        looked up under the lock again when it is no longer the table's."""
        api = self.ovs.api
        row = self._row
        if row is None or api.tables['Bridge'].rows.get(row.uuid) is not row:
            row = self._row = self._read(_Row(api, self.bridge))
        datum = getattr(row, '_data', {}).get('external_ids')
        if datum is None:       # not python-ovs's layout: the whole map
            tags = self.allocations()
            return {n: tags[n] for n in network_ids if n in tags}
        found = {}
        for network_id in network_ids:
            value = datum.values.get(Atom.new(key_for(network_id)))
            if value is not None and value.value.isdigit():
                found[network_id] = int(value.value)
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
        self.commits += 1
        cmd = _Allocate(self.ovs.api, self.bridge, network_ids)
        try:
            _commit(self.ovs.api, cmd)
        except DriverError:
            raise
        except Exception as exc:
            which = (f'network {network_ids[0]}' if len(network_ids) == 1
                     else f'{len(network_ids)} networks')
            raise DriverError(f'bridge {self.bridge}: allocating the local VLAN of {which} '
                              f'failed: {exc}') from exc
        return cmd.result

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
            _commit(self.ovs.api, self.ovs.api.db_remove(
                'Bridge', self.bridge, 'external_ids', key_for(network_id),
                if_exists=True))
        except Exception as exc:
            raise DriverError(f'bridge {self.bridge}: releasing the local VLAN of network '
                              f'{network_id} failed: {exc}') from exc
