"""Open vSwitch bridges and internal ports through ovsdbapp (one OVSDB connection per process).

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
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ovsdbapp.backend.ovs_idl import command as ovs_command
from ovsdbapp.backend.ovs_idl import connection as ovs_connection
from ovsdbapp.backend.ovs_idl import idlutils
from ovsdbapp.backend.ovs_idl import transaction as ovs_transaction
from ovsdbapp.schema.open_vswitch import impl_idl

from agent.drivers import commands
from agent.drivers import ovs_json
from agent.drivers.state import (
    ATTACHED_MAC, DEAD_VLAN, IFACE_ID, BridgeNotFound, DriverError, OvsPort, PortNotReady,
    PortSpec)

LOG = logging.getLogger(__name__)
ovs_json.install()
# The columns this module, local_vlan and the ovsdbapp commands they run (add_br,
# del_br, del_port, db_get/db_set/db_remove, the vsctl transaction's next_cfg wait)
# read or write.  The IDL copies and the server streams only these: not the other
# columns of every port on the host, such as the interface statistics and status
# ovs-vswitchd rewrites every few seconds.  Measured (tracemalloc, a direct IDL
# connect, 230-716 ports on the host): 6.2-6.5 KiB per port (its Port and
# Interface rows: ~0.4 KiB per replicated column of a row), every port of the
# host's OVSDB, not only ours.  Again with 1000 internal ports on a private
# ovsdb-server (2026-12): 5.2 KiB of Python objects per port once connected
# (the values' dicts, a third; their strings and atoms; the rows and their three
# empty transaction dicts; ovsdbapp's name indexes), 7.7 MiB of RSS for the
# 1000.  Sharing the parsed strings (sys.intern on every message) saved 6 %
# (4.83 against 5.16 MiB) for 25-45 ms more CPU at the connect, which a
# restart's reconciles wait for: not done.  Port vlan_mode/trunks and Interface
# options are only written, but python-ovs cannot write a column its IDL does not replicate:
# leaving them out would save ~6% (5.84 KiB per port), not done.  The connect
# and every update were parsed by python-ovs' pure-Python JSON parser when the
# ovs package was built without its C extension (ovs._json, which needs
# libopenvswitch at build time; the PyPI wheel here has none): ~2.7 ms CPU per
# port at connect, 4x less with Debian's python3-openvswitch parser; now by
# agent.drivers.ovs_json (the standard library's), ~9x less than pure Python.
COLUMNS: Dict[str, Tuple[str, ...]] = {
    'Open_vSwitch': ('bridges', 'cur_cfg', 'next_cfg'),
    'Bridge': ('name', 'ports', 'datapath_type', 'external_ids'),
    'Port': ('name', 'interfaces', 'tag', 'vlan_mode', 'trunks'),
    'Interface': ('name', 'type', 'options', 'external_ids', 'ofport', 'error'),
}
DEVICE_WAIT_SECONDS = 10.0

_apis: Dict[str, Future] = {}
_apis_lock = threading.Lock()


def connect_soon(connection: str, timeout: int) -> Future:
    """The process's ovsdbapp API for ``connection``, as a future: connecting (the
    IDL's first copy of the monitored rows) starts on a thread of its own unless
    it has already.  ~35 ms on an empty host, but 0.4-0.7 s of CPU with 1200
    interfaces on the host (pure-Python JSON without ovs's C extension) and
    seconds on a loaded one: an agent starts its bus meanwhile."""
    with _apis_lock:
        future = _apis.get(connection)
        if future is None or (future.done() and future.exception() is not None):
            future = _apis[connection] = Future()
            threading.Thread(target=_connect, args=(connection, timeout, future),
                             name='ovsdb-connect', daemon=True).start()
        return future


def _connect(connection: str, timeout: int, future: Future) -> None:
    try:
        helper = idlutils.get_schema_helper(connection, 'Open_vSwitch')
        for table, columns in COLUMNS.items():
            helper.register_columns(table, list(columns))
        idl = ovs_connection.OvsdbIdl(connection, helper)
        future.set_result(impl_idl.OvsdbIdl(ovs_connection.Connection(idl=idl,
                                                                      timeout=timeout)))
    except Exception as exc:  # noqa: BLE001 - raised to whoever waits for it
        future.set_exception(DriverError(f'OVSDB {connection}: cannot connect: {exc}'))


def api_for(connection: str, timeout: int) -> Any:
    """The process's ovsdbapp API for ``connection``, connected on first use; a
    failed connection is tried again by the next caller."""
    return connect_soon(connection, timeout).result()


class _WaitOutside(impl_idl.OvsVsctlTransaction):
    """ovs-vsctl's transaction (``next_cfg`` raised, new interfaces noted) without
    its wait for ovs-vswitchd: ovsdbapp waits in ``post_commit``, on the connection
    thread and under the connection's lock, so every other transaction and every
    read of the agent (each reconcile's port lookup) waited for ovs-vswitchd's
    reconfiguration too (a loaded host: seconds, up to the 10 s timeout).
    :meth:`OvsDriver._run` waits for it afterwards, holding nothing."""

    next_cfg: Optional[int] = None
    inserted: frozenset = frozenset()

    def post_commit(self, txn: Any) -> None:
        ovs_transaction.Transaction.post_commit(self, txn)     # the commands' own
        self.next_cfg = txn.get_increment_new_value()
        self.inserted = frozenset(u for u in map(txn.get_insert_uuid,
                                                 txn.expected_ifaces) if u)


class _Applied(ovs_command.ReadOnlyCommand):
    """None while ovs-vswitchd has not applied ``next_cfg``; then the names of the
    interfaces among ``inserted`` that it could not create (no ofport)."""

    def __init__(self, api: Any, next_cfg: int, inserted: frozenset) -> None:
        super().__init__(api)
        self.next_cfg = next_cfg
        self.inserted = inserted

    def run_idl(self, txn: Any) -> None:
        self.result = None
        if self.api._ovs.cur_cfg < self.next_cfg:
            return
        rows = self.api.idl.tables['Interface'].rows
        self.result = sorted(row.name for row in map(rows.get, self.inserted)
                             if row is not None and _single(row.ofport) in (None, -1))


def _single(value: Any) -> Any:
    """An OVSDB optional column (a list of 0 or 1) -> the value or None."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _port_columns(tag: Optional[int]) -> dict:
    if tag is None:
        return {'tag': [], 'vlan_mode': [], 'trunks': []}
    if tag == DEAD_VLAN:
        return {'tag': DEAD_VLAN, 'vlan_mode': 'trunk', 'trunks': [DEAD_VLAN]}
    return {'tag': tag, 'vlan_mode': [], 'trunks': []}


class _AddInternalPorts(ovs_command.BaseCommand):
    """Insert internal ports (Port + Interface rows) on a bridge, in the caller's txn."""

    def __init__(self, api: Any, bridge: str, specs: Sequence[PortSpec]) -> None:
        super().__init__(api)
        self.bridge = bridge
        self.specs = specs

    def run_idl(self, txn: Any) -> None:
        br = idlutils.row_by_value(self.api.idl, 'Bridge', 'name', self.bridge, None)
        if br is None:
            raise BridgeNotFound(f'bridge {self.bridge}: does not exist')
        for spec in self.specs:
            port = txn.insert(self.api._tables['Port'])
            port.name = spec.name
            self.set_columns(port, **_port_columns(spec.tag))
            iface = txn.insert(self.api._tables['Interface'])
            txn.expected_ifaces.add(iface.uuid)
            iface.name = spec.name
            iface.type = 'internal'
            iface.external_ids = spec.external_ids()
            port.interfaces = [iface]
            br.addvalue('ports', port)


def _ovs_port(bridge: str, port: Any) -> Optional[OvsPort]:
    if not port.interfaces:
        return None
    iface = port.interfaces[0]
    ids = dict(iface.external_ids)
    if IFACE_ID not in ids:
        return None
    ofport = _single(iface.ofport)
    return OvsPort(name=port.name, bridge=bridge, iface_id=ids[IFACE_ID],
                   mac=ids.get(ATTACHED_MAC), tag=_single(port.tag),
                   ofport=ofport if ofport is None or ofport >= 0 else None,
                   external_ids=types.MappingProxyType(ids), type=iface.type)


class _ListPorts(ovs_command.ReadOnlyCommand):
    def __init__(self, api: Any, bridge: str) -> None:
        super().__init__(api)
        self.bridge = bridge

    def run_idl(self, txn: Any) -> None:
        br = idlutils.row_by_value(self.api.idl, 'Bridge', 'name', self.bridge, None)
        if br is None:
            raise BridgeNotFound(f'bridge {self.bridge}: does not exist')
        ports = (_ovs_port(self.bridge, p) for p in br.ports)
        self.result = sorted((p for p in ports if p is not None), key=lambda p: p.name)


class _BridgeMembers:
    """The Port row uuids of each bridge, computed again once the IDL changed.

    Reading a Bridge row's ``ports`` builds a sorted list of its rows: ~3 ms with
    1000 ports, which a restart re-checking 1000 networks paid once per network
    (the profile's top entries were Row.__lt__ and Datum.to_python).  Used under
    the connection's lock (read-only commands run there).  The set is read from
    the row's replicated datum (its uuids as they are): the IDL changes with
    every change of any port on the host (other agents', other bridges'), and
    at 1000 ports each new ``ports`` list was still 15 % of a restart's CPU.
    """

    def __init__(self) -> None:
        self._seqno: Optional[int] = None
        self._sets: Dict[Any, frozenset] = {}

    def of(self, idl: Any, bridge_row: Any) -> frozenset:
        if idl.change_seqno != self._seqno:
            self._seqno, self._sets = idl.change_seqno, {}
        found = self._sets.get(bridge_row.uuid)
        if found is None:
            found = self._sets[bridge_row.uuid] = _port_uuids(bridge_row)
        return found


def _port_uuids(bridge_row: Any) -> frozenset:
    """The uuids of a Bridge row's ports; from its committed datum unless a
    transaction of ours is changing them (then as the row reads)."""
    datum = (bridge_row._data or {}).get('ports')
    if datum is None or bridge_row._changes or bridge_row._mutations:
        return frozenset(p.uuid for p in bridge_row.ports)
    return frozenset(atom.value for atom in datum.values)


class _FindPort(ovs_command.ReadOnlyCommand):
    """One port of a bridge by name, through the IDL's name index."""

    def __init__(self, api: Any, bridge: str, name: str, members: _BridgeMembers) -> None:
        super().__init__(api)
        self.bridge = bridge
        self.name = name
        self.members = members

    def run_idl(self, txn: Any) -> None:
        self.result = None
        port = idlutils.row_by_value(self.api.idl, 'Port', 'name', self.name, None)
        if port is None:
            return
        br = idlutils.row_by_value(self.api.idl, 'Bridge', 'name', self.bridge, None)
        if br is None:
            raise BridgeNotFound(f'bridge {self.bridge}: does not exist')
        if port.uuid in self.members.of(self.api.idl, br):
            self.result = _ovs_port(self.bridge, port)


def bridge_row(api: Any, bridge: str) -> Any:
    """The Bridge row named ``bridge`` (BridgeNotFound if there is none)."""
    row = idlutils.row_by_value(api.idl, 'Bridge', 'name', bridge, None)
    if row is None:
        raise BridgeNotFound(f'bridge {bridge}: does not exist')
    return row


class _FindPorts(ovs_command.ReadOnlyCommand):
    """The ports of ``names`` on a bridge (name -> OvsPort; absent or foreign ones
    left out), each through the IDL's name index."""

    def __init__(self, api: Any, bridge: str, names: Sequence[str],
                 members: _BridgeMembers) -> None:
        super().__init__(api)
        self.bridge = bridge
        self.names = names
        self.members = members

    def run_idl(self, txn: Any) -> None:
        members = self.members.of(self.api.idl, bridge_row(self.api, self.bridge))
        found = {}
        for name in self.names:
            row = idlutils.row_by_value(self.api.idl, 'Port', 'name', name, None)
            port = _ovs_port(self.bridge, row) if row is not None and \
                row.uuid in members else None
            if port is not None:
                found[name] = port
        self.result = found


class _PortsOnBridge(ovs_command.ReadOnlyCommand):
    """Which of ``names`` exist as ports (on any bridge), with their interface errors.

    Each through the IDL's name index: a walk of every Port row was done for each
    plug, ~4% of the DHCP agent's GIL time with 20 networks made back to back on
    a host with ~700 ports (py-spy --gil)."""

    def __init__(self, api: Any, names: Iterable[str]) -> None:
        super().__init__(api)
        self.names = set(names)

    def run_idl(self, txn: Any) -> None:
        found = {}
        for name in self.names:
            port = idlutils.row_by_value(self.api.idl, 'Port', 'name', name, None)
            if port is not None:
                iface = port.interfaces[0] if port.interfaces else None
                found[port.name] = _single(iface.error) if iface is not None else None
        self.result = found


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
        self._members = _BridgeMembers()

    @property
    def api(self) -> Any:
        return api_for(self.connection, self.timeout)

    @classmethod
    def from_conf(cls, conf: Any) -> 'OvsDriver':
        return cls(conf.ovs.ovsdb_connection, conf.ovs.ovsdb_timeout)

    def _run(self, what: str, *cmds: Any) -> List[Any]:
        txn = _WaitOutside(self.api, self.api.ovsdb_connection, check_error=True)
        for cmd in cmds:
            txn.add(cmd)
        try:
            txn.commit()
        except DriverError:
            raise
        except Exception as exc:
            raise DriverError(f'{what}: OVSDB transaction failed: {exc}') from exc
        if txn.next_cfg is not None:
            self._wait_applied(what, txn)
        return [cmd.result for cmd in cmds]

    def _wait_applied(self, what: str, txn: _WaitOutside) -> None:
        """Until ovs-vswitchd has applied the transaction (1 ms polls growing to
        20 ms).  As ovs-vsctl and ovsdbapp do, a timeout or an interface it could
        not create is logged, not raised: the callers check what they need (the
        plugged devices exist, see :func:`wait_for_devices`)."""
        deadline = time.monotonic() + self.timeout
        delay = 0.001
        while (failed := self._read(what, _Applied(self.api, txn.next_cfg,
                                                   txn.inserted))) is None:
            if time.monotonic() >= deadline:
                LOG.warning('%s: ovs-vswitchd did not apply the change within %d s',
                            what, self.timeout)
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
        if failed:
            LOG.warning('%s: ovs-vswitchd could not create %s', what, ', '.join(failed))

    def _read(self, what: str, cmd: Any) -> Any:
        try:
            return cmd.execute(check_error=True, log_errors=False)
        except DriverError:
            raise
        except Exception as exc:
            raise DriverError(f'{what}: OVSDB read failed: {exc}') from exc

    # -- bridges -----------------------------------------------------------------------

    def bridge_exists(self, name: str) -> bool:
        return bool(self._read(f'bridge {name}', self.api.br_exists(name)))

    def ensure_bridge(self, name: str, datapath_type: str = 'system') -> bool:
        """Create the bridge if missing; returns True if it was created."""
        if self.bridge_exists(name):
            return False
        LOG.debug('%s', commands.ovs_add_bridge(name, datapath_type))
        self._run(f'bridge {name}', self.api.add_br(name, may_exist=True,
                                                    datapath_type=datapath_type))
        return True

    def ensure_patch_pair(self, bridge_a: str, port_a: str, bridge_b: str,
                          port_b: str) -> bool:
        """Patch ports ``port_a`` on ``bridge_a`` and ``port_b`` on ``bridge_b``, peers
        of each other, untagged (trunks of every VLAN); True if one was missing."""
        have = {p for p in (port_a, port_b)
                if self._read(f'port {p}', self.api.db_find(
                    'Interface', ('name', '=', p), ('type', '=', 'patch'),
                    columns=['name']))}
        if have == {port_a, port_b}:
            return False
        cmds = []
        for bridge, port, peer in ((bridge_a, port_a, port_b), (bridge_b, port_b, port_a)):
            LOG.debug('%s', commands.ovs_add_patch_port(bridge, port, peer))
            cmds += [self.api.add_port(bridge, port, may_exist=True),
                     self.api.db_set('Interface', port, ('type', 'patch'),
                                     ('options', {'peer': peer}))]
        self._run(f'patch ports {port_a}/{port_b}', *cmds)
        return True

    def delete_bridge(self, name: str) -> None:
        LOG.debug('%s', commands.ovs_del_bridge(name))
        self._run(f'bridge {name}', self.api.del_br(name, if_exists=True))

    # -- ports -------------------------------------------------------------------------

    def plug_ports(self, bridge: str, specs: Sequence[PortSpec], wait: bool = True) -> None:
        """Replace/add internal ports: stale ones deleted in one txn, all added in ONE txn.

        Then waits until every port's kernel device exists (the netdev datapath
        creates taps asynchronously).
        """
        specs = list(specs)
        if not specs:
            return
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f'bridge {bridge}: duplicate port names in one batch')
        existing = self._read(f'bridge {bridge}', _PortsOnBridge(self.api, names))
        stale = {n: i for n in existing if (i := _ifindex(n)) is not None}
        if existing:
            self._run(f'bridge {bridge}: delete stale ports {", ".join(sorted(existing))}',
                      *(self.api.del_port(n, if_exists=True) for n in sorted(existing)))
        self._run(f'bridge {bridge}: add ports {", ".join(names[:5])}'
                  f'{"..." if len(names) > 5 else ""}', _AddInternalPorts(self.api, bridge,
                                                                          specs))
        if wait:
            try:
                wait_for_devices(names, stale, bridge, self.device_timeout)
            except PortNotReady as exc:
                errors = self._read(f'bridge {bridge}', _PortsOnBridge(self.api, names))
                detail = '; '.join(f'{n}: {e}' for n, e in sorted(errors.items()) if e)
                raise PortNotReady(f'{exc}{"; OVS says " + detail if detail else ""}') from None

    def replace_internal_port(self, bridge: str, name: str, iface_id: str, mac: str,
                              tag: Optional[int] = None) -> None:
        self.plug_ports(bridge, [PortSpec(name, iface_id, mac, tag)])

    def list_ports(self, bridge: str) -> List[OvsPort]:
        """Ports on ``bridge`` that carry an ``iface-id`` external_id, sorted by name."""
        return self._read(f'bridge {bridge}', _ListPorts(self.api, bridge))

    def find_port(self, bridge: str, name: str) -> Optional[OvsPort]:
        """The port ``name`` on ``bridge`` if it is there with an ``iface-id``.

        One reconcile's view of its own port: a listing of the bridge holds the
        connection's lock for ~0.1 ms per port (100 ms with 1000 ports), this
        costs one index lookup and a set lookup (the set of the bridge's ports is
        made again only when the database changed).
        """
        return self._read(f'bridge {bridge}',
                          _FindPort(self.api, bridge, name, self._members))

    def find_ports(self, bridge: str, names: Sequence[str]) -> Dict[str, OvsPort]:
        """name -> OvsPort of those of ``names`` on ``bridge`` (with an iface-id), in
        one read: what :meth:`find_port` gives, for many names."""
        return self._read(f'bridge {bridge}',
                          _FindPorts(self.api, bridge, list(names), self._members))

    def delete_port(self, bridge: str, name: str) -> None:
        self._run(f'bridge {bridge}: delete port {name}',
                  self.api.del_port(name, bridge=bridge, if_exists=True))

    def set_port_tag(self, name: str, tag: Optional[int]) -> None:
        cols: Tuple = tuple(_port_columns(tag).items())
        self._run(f'port {name}: set tag {tag}',
                  self.api.db_set('Port', name, *cols, if_exists=False))

    # -- bridge external_ids (used by local_vlan) --------------------------------------

    def bridge_external_ids(self, bridge: str) -> Dict[str, str]:
        if not self.bridge_exists(bridge):
            raise BridgeNotFound(f'bridge {bridge}: does not exist')
        return dict(self._read(f'bridge {bridge}',
                               self.api.db_get('Bridge', bridge, 'external_ids')))
