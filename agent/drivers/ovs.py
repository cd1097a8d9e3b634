"""Open vSwitch bridges and internal ports, through one OVSDB client per process.

Ports are plugged the way Neutron's interface driver does it: an internal port
with external_ids ``iface-id``, ``iface-status=active`` and ``attached-mac``. Any
stale port of the same name is deleted in its own transaction first (as Neutron's
``replace_port`` does: deleting and re-adding one name in a single transaction is
a no-op for ovs-vswitchd, which then keeps the stale device, Launchpad #1519926);
all new ports of a batch then go in ONE transaction.

``iface-id`` goes in with the insert, as Neutron's ``replace_port`` and os-vif do,
never in a later transaction: Neutron's OVS agent (29.0.0) learns of a port only
from the monitor's *insert* event (an unassigned ofport there is retried as "not
ready yet"); it drops a *modify* event (it matches modified interface names against
port ids), so an ``iface-id`` set once ovs-vswitchd has given the ofport is never
bound (tried: the interop job's DHCP tap stayed on VLAN 4095).

Ports plugged, retagged and deleted are not logged here (see :mod:`agent.drivers`);
bridges and patch ports, which no plan makes, are.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import types
from concurrent.futures import Future
from typing import Any, Dict, Iterable, List, Optional, Sequence

from agent.drivers import commands
from agent.drivers import ovsdb_ops as ops
from agent.drivers.ovsdb_client import OvsdbClient
from agent.drivers.state import (
    ATTACHED_MAC, DEAD_VLAN, IFACE_ID, BridgeNotFound, DriverError, OvsPort, PortNotReady,
    PortSpec)

LOG = logging.getLogger(__name__)
# What this module and local_vlan read is agent.drivers.ovsdb_client.SCHEMA: the
# server streams only those columns, not the others of every port on the host
# (the interface statistics and status ovs-vswitchd rewrites every few seconds),
# kept at ~1 KiB of Python objects per port (python-ovs' IDL through ovsdbapp,
# which this replaced: 5.2 KiB, 7.7 MiB of RSS per 1000 ports; see that module).
# What is only written (Port vlan_mode, trunks, Interface options) is not
# replicated: transactions are JSON operations (agent.drivers.ovsdb_ops).
DEVICE_WAIT_SECONDS = 10.0

_apis: Dict[str, Future] = {}
_apis_lock = threading.Lock()


def connect_soon(connection: str, timeout: int) -> Future:
    """The process's OVSDB client for ``connection``, as a future: connecting (the
    first copy of the monitored rows) starts on a thread of its own unless it has
    already.  ~0.02 s of CPU with 1000 ports on the host; seconds on a loaded
    one: an agent starts its bus meanwhile."""
    with _apis_lock:
        future = _apis.get(connection)
        if future is None or (future.done() and future.exception() is not None):
            future = _apis[connection] = Future()
            threading.Thread(target=_connect, args=(connection, timeout, future),
                             name='ovsdb-connect', daemon=True).start()
        return future


def _connect(connection: str, timeout: int, future: Future) -> None:
    try:
        future.set_result(OvsdbClient(connection, timeout).start())
    except Exception as exc:  # noqa: BLE001 - raised to whoever waits for it
        future.set_exception(DriverError(f'OVSDB {connection}: cannot connect: {exc}'))


def api_for(connection: str, timeout: int) -> OvsdbClient:
    """The process's OVSDB client for ``connection``, connected on first use; a
    failed connection is tried again by the next caller."""
    return connect_soon(connection, timeout).result()


def bridge_row(api: OvsdbClient, bridge: str) -> Any:
    """The replica's Bridge row named ``bridge`` (BridgeNotFound if there is none)."""
    row = api.replica.by_name['Bridge'].get(bridge)
    if row is None:
        raise BridgeNotFound(f'bridge {bridge}: does not exist')
    return row


def _interface(replica: Any, port: Any) -> Any:
    """The replica's Interface row of a Port row (None if it has none yet)."""
    return replica.rows['Interface'].get(port.interfaces[0]) if port.interfaces else None


def _ovs_port(replica: Any, bridge: str, port: Any) -> Optional[OvsPort]:
    iface = _interface(replica, port)
    if iface is None:
        return None
    ids = iface.external_ids            # never changed once in the replica
    if IFACE_ID not in ids:
        return None
    ofport = iface.ofport
    return OvsPort(name=port.name, bridge=bridge, iface_id=ids[IFACE_ID],
                   mac=ids.get(ATTACHED_MAC), tag=port.tag,
                   ofport=ofport if ofport is None or ofport >= 0 else None,
                   external_ids=types.MappingProxyType(ids), type=iface.type)


def _ifindex(name: str) -> Optional[int]:
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def wait_for_devices(names: Iterable[str], stale: Dict[str, int], bridge: str,
                     timeout: float = DEVICE_WAIT_SECONDS) -> None:
    """Poll (1 ms growing to 20 ms) until each kernel device exists and is not ``stale``."""
    pending = set(names)
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        pending = {n for n in pending if _ifindex(n) in (None, stale.get(n))}
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise PortNotReady(f'bridge {bridge}: device(s) {", ".join(sorted(pending))} '
                               f'did not appear within {timeout:.0f} s')
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


class OvsDriver:
    """Bridges and internal ports on one OVSDB server."""

    def __init__(self, connection: str, timeout: int = 10,
                 device_timeout: float = DEVICE_WAIT_SECONDS) -> None:
        self.connection = connection
        self.timeout = timeout
        self.device_timeout = device_timeout
        connect_soon(connection, timeout)       # self.api waits for it

    @property
    def api(self) -> OvsdbClient:
        return api_for(self.connection, self.timeout)

    @classmethod
    def from_conf(cls, conf: Any) -> 'OvsDriver':
        return cls(conf.ovs.ovsdb_connection, conf.ovs.ovsdb_timeout)

    def _run(self, what: str, txn: List[dict], inserted: Sequence[int] = ()) -> List[Any]:
        """Commit ``txn`` with ``next_cfg`` raised, then wait (holding nothing) until
        ovs-vswitchd has applied it; ``inserted``: the ops inserting Interface rows
        it should create (those it could not are logged).  The ops' results."""
        try:
            results = self.api.transact(txn + ops.next_cfg())
        except DriverError as exc:
            if isinstance(exc, BridgeNotFound):
                raise
            raise DriverError(f'{what}: OVSDB transaction failed: {exc}') from exc
        next_cfg = results[-1]['rows'][0]['next_cfg']
        self._wait_applied(what, next_cfg, [results[i]['uuid'][1] for i in inserted])
        return results[:len(txn)]

    def _wait_applied(self, what: str, next_cfg: int, inserted: List[str]) -> None:
        """Until ovs-vswitchd has applied the transaction: woken by the replica's
        update of ``cur_cfg``, not polling.  As ovs-vsctl and ovsdbapp do, a
        timeout or an interface it could not create is logged, not raised: the
        callers check what they need (the plugged devices exist, see
        :func:`wait_for_devices`)."""
        api = self.api

        def applied() -> bool:
            root = api.replica.root()
            return root is not None and root.cur_cfg >= next_cfg
        if not api.wait_for(applied, self.timeout):
            LOG.warning('%s: ovs-vswitchd did not apply the change within %d s',
                        what, self.timeout)
            return
        rows = api.replica.rows['Interface']
        failed = sorted(row.name for row in map(rows.get, inserted)
                        if row is not None and row.ofport in (None, -1))
        if failed:
            LOG.warning('%s: ovs-vswitchd could not create %s', what, ', '.join(failed))

    # -- bridges -----------------------------------------------------------------------

    def bridge_exists(self, name: str) -> bool:
        return name in self.api.replica.by_name['Bridge']

    def ensure_bridge(self, name: str, datapath_type: str = 'system') -> bool:
        """Create the bridge if missing; returns True if it was created."""
        if self.bridge_exists(name):
            return False
        LOG.debug('%s', commands.ovs_add_bridge(name, datapath_type))
        try:
            self._run(f'bridge {name}', ops.add_bridge(name, datapath_type))
        except DriverError as exc:
            if getattr(exc.__cause__, 'op', None) == 0:     # made meanwhile, elsewhere
                return False
            raise
        return True

    def ensure_patch_pair(self, bridge_a: str, port_a: str, bridge_b: str,
                          port_b: str) -> bool:
        """Patch ports ``port_a`` on ``bridge_a`` and ``port_b`` on ``bridge_b``, peers
        of each other, untagged (trunks of every VLAN); True if one was missing."""
        replica = self.api.replica
        ifaces = replica.by_name['Interface']
        have = {p for p in (port_a, port_b) if p in ifaces and ifaces[p].type == 'patch'}
        if have == {port_a, port_b}:
            return False
        txn: List[dict] = []
        for i, (bridge, port, peer) in enumerate(((bridge_a, port_a, port_b),
                                                  (bridge_b, port_b, port_a))):
            LOG.debug('%s', commands.ovs_add_patch_port(bridge, port, peer))
            existing = ifaces.get(port) if port in replica.by_name['Port'] else None
            txn += ops.patch_port(bridge_row(self.api, bridge).uuid, port, peer,
                                  existing.uuid if existing is not None else None, i)
        self._run(f'patch ports {port_a}/{port_b}', txn)
        return True

    def delete_bridge(self, name: str) -> None:
        LOG.debug('%s', commands.ovs_del_bridge(name))
        row = self.api.replica.by_name['Bridge'].get(name)
        if row is not None:
            self._run(f'bridge {name}', [ops.delete_bridge(row.uuid)])

    # -- ports -------------------------------------------------------------------------

    def _ports_named(self, names: Iterable[str]) -> Dict[str, Optional[str]]:
        """Which of ``names`` exist as ports (on any bridge): name -> the error of
        its interface (None if none), each through the replica's name index."""
        replica = self.api.replica
        found = {}
        for name in names:
            port = replica.by_name['Port'].get(name)
            if port is not None:
                iface = _interface(replica, port)
                found[port.name] = iface.error if iface is not None else None
        return found

    def plug_ports(self, bridge: str, specs: Sequence[PortSpec], wait: bool = True) -> None:
        """Replace/add ports: stale ones deleted in one txn, all added in ONE txn.

        Then waits until every internal port's kernel device exists (the netdev
        datapath creates taps asynchronously); a veth's root end exists already.
        """
        specs = list(specs)
        if not specs:
            return
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f'bridge {bridge}: duplicate port names in one batch')
        existing = self._ports_named(names)
        taps = [s.name for s in specs if s.internal]     # the devices ovs-vswitchd makes
        stale = {n: i for n in existing.keys() & set(taps) if (i := _ifindex(n)) is not None}
        if existing:
            self._delete_ports(f'bridge {bridge}: delete stale ports '
                               f'{", ".join(sorted(existing))}', sorted(existing))
        br = bridge_row(self.api, bridge)
        what = f'bridge {bridge}: add ports {", ".join(names[:5])}' \
               f'{"..." if len(names) > 5 else ""}'
        results = self._run(what, ops.add_internal_ports(br.uuid, specs),
                            inserted=range(0, 2 * len(specs), 2))
        if results[-1].get('count') == 0:
            raise BridgeNotFound(f'bridge {bridge}: does not exist')
        if wait and taps:
            try:
                wait_for_devices(taps, stale, bridge, self.device_timeout)
            except PortNotReady as exc:
                errors = self._ports_named(taps)
                detail = '; '.join(f'{n}: {e}' for n, e in sorted(errors.items()) if e)
                raise PortNotReady(f'{exc}{"; OVS says " + detail if detail else ""}') from None

    def _delete_ports(self, what: str, names: Sequence[str],
                      bridge: Optional[str] = None) -> None:
        ports = self.api.replica.by_name['Port']
        uuids = [ports[n].uuid for n in names if n in ports]
        if uuids:
            self._run(what, [ops.delete_ports(uuids, bridge)])

    def replace_internal_port(self, bridge: str, name: str, iface_id: str, mac: str,
                              tag: Optional[int] = None) -> None:
        self.plug_ports(bridge, [PortSpec(name, iface_id, mac, tag)])

    def list_ports(self, bridge: str) -> List[OvsPort]:
        """Ports on ``bridge`` that carry an ``iface-id`` external_id, sorted by name."""
        replica = self.api.replica
        rows = replica.rows['Port']
        found = (_ovs_port(replica, bridge, row) for row in
                 map(rows.get, bridge_row(self.api, bridge).ports) if row is not None)
        return sorted((p for p in found if p is not None), key=lambda p: p.name)

    def find_port(self, bridge: str, name: str) -> Optional[OvsPort]:
        """The port ``name`` on ``bridge`` if it is there with an ``iface-id``: one
        lookup in the replica's name index and one in the bridge's set of ports."""
        return self.find_ports(bridge, [name]).get(name)

    def find_ports(self, bridge: str, names: Sequence[str]) -> Dict[str, OvsPort]:
        """name -> OvsPort of those of ``names`` on ``bridge`` (with an iface-id), in
        one read: what :meth:`find_port` gives, for many names."""
        replica = self.api.replica
        members = bridge_row(self.api, bridge).ports
        found = {}
        for name in names:
            row = replica.by_name['Port'].get(name)
            port = _ovs_port(replica, bridge, row) if row is not None and \
                row.uuid in members else None
            if port is not None:
                found[name] = port
        return found

    def delete_port(self, bridge: str, name: str) -> None:
        self._delete_ports(f'bridge {bridge}: delete port {name}', [name], bridge)

    def set_port_tag(self, name: str, tag: Optional[int]) -> None:
        [result] = self._run(f'port {name}: set tag {tag}', [ops.set_port(name, tag)])
        if result.get('count') == 0:
            raise DriverError(f'port {name}: set tag {tag}: no such port')

    # -- bridge external_ids (used by local_vlan) --------------------------------------

    def bridge_external_ids(self, bridge: str) -> Dict[str, str]:
        return dict(bridge_row(self.api, bridge).external_ids)
