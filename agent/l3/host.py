"""Observe a router on the host and apply its plan (the only side effects of agent.l3).

:class:`RouterHost` holds the drivers (netns, links, OVS, iptables managers per
namespace, the process manager, conntrack) and offers ``observe(desired)``,
``observe_existing(namespace)`` and ``apply(action)``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable

from agent.common import fileutils, names
from agent.dataplane import device as dev
from agent.dataplane import executor as dataplane
from agent.dataplane.ports import BridgePorts
from agent.drivers import conntrack
from agent.drivers.iptables import IptablesManager, IptablesManagers, RestoreTexts
from agent.drivers.iptables_rules import L3_WRAP, floating_dnat
from agent.drivers.state import BridgeNotFound, DriverError
from agent.l3 import plan as rplan
from agent.l3.desired import DesiredRouter
from agent.metadata.node_proxy import ListenerSpec
from agent.process import actions as child
from agent.process.children import Children
from agent.process.manager import ProcessManager

LOG = logging.getLogger(__name__)

PORTS_TTL = 10.0    # seconds a bridge listing serves lookups (see RouterHost)


class StateDirs:
    """Directories of ours on the host: made (``mark``) and removed (``unmark``)."""

    def mark(self, path: str) -> None:
        fileutils.ensure_dir(path)

    def unmark(self, path: str) -> None:
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass


class RouterHost:
    """The drivers a router needs, behind observe/apply."""

    def __init__(self, drivers: dataplane.HostDrivers, processes: ProcessManager,
                 bridges: tuple[str, str], *, iptables_debug: bool = False,
                 ipv6: bool = True,
                 iptables_factory: Callable[[str], IptablesManager] | None = None,
                 clear_conntrack: Callable[[str, str], int] = conntrack.delete_entries,
                 read_sysctls: Callable[[str, tuple], tuple] | None = None,
                 children: Children | None = None,
                 state_dirs: StateDirs | None = None,
                 stamp_file: Callable[[str], str | None] = lambda ns: None,
                 node_proxy=None):
        self.drivers = drivers
        self.processes = processes
        self.node_proxy = node_proxy        # agent.metadata.node_proxy (shared mode)
        self.bridges = bridges
        self.iptables = IptablesManagers(iptables_factory or (
            lambda ns: IptablesManager(ns, L3_WRAP, debug=iptables_debug, ipv6=ipv6,
                                       stamp_file=stamp_file(ns))))
        # One OVS listing per bridge shared by the reconciles of a full sync (which
        # lists afresh first).  A listing of a few thousand ports costs 60-150 ms
        # of CPU here: listed again every 2 s it was a tenth of a cold start of
        # a thousand routers.  Our own plugs and unplugs are seen at once
        # (touched); a port someone else removed is replugged anyway, its device
        # being gone.
        self._bridge_ports = {b: BridgePorts(drivers.ovs, b, ttl=PORTS_TTL,
                                             reread_touched=True)
                              for b in dict.fromkeys(bridges)}
        self.clear_conntrack = clear_conntrack
        # On the namespace's netlink worker, already inside it: no thread per read.
        self._read_sysctls = read_sysctls or (
            lambda ns, keys: tuple(drivers.netns.call_netlink(ns, _sysctl_values, keys)))
        # A router's observation reads its sysctls in the same visit to the
        # namespace's worker as its devices and routes (unless given a reader).
        self._sysctls_in_visit = read_sysctls is None
        # haproxy, keepalived (and radvd, agent.l3.ra) as plan actions
        self.children = children or Children(processes)
        self.state_dirs = state_dirs or StateDirs()

    # -- observing -------------------------------------------------------------------

    def router_ports(self, names=(), fresh: bool = False) -> list:
        """Every qr-/qg- port of ours on the two bridges (a missing bridge: none).

        From a listing at most a couple of seconds old, re-listed if one of
        ``names`` was plugged or unplugged since; ``fresh`` lists again.
        """
        found = []
        for cache in self._bridge_ports.values():
            try:
                ports = cache.refresh() if fresh else cache.snapshot(*names)
            except BridgeNotFound:
                continue
            found += [p for p in ports.values()
                      if p.name.startswith(rplan.ROUTER_DEVICE_PREFIXES)]
        return found

    def ports_named(self, names) -> list:
        """The ports of ``names`` on the two bridges, from the same listing as
        :meth:`router_ports` (a lookup per name: a router's reconcile does not
        walk the thousands of ports of the others)."""
        found = []
        for cache in self._bridge_ports.values():
            try:
                ports = cache.snapshot(*names)
            except BridgeNotFound:
                continue
            found += [ports[n] for n in names if n in ports]
        return found

    def touched(self, name: str) -> None:
        for cache in self._bridge_ports.values():
            cache.touched(name)

    def _links(self, namespace: str) -> tuple:
        return tuple(link for link in self.drivers.links.list_links(namespace)
                     if link.name != 'lo')

    def _sysctls(self, namespace: str, keys) -> tuple:
        """``((key, value or None), ...)`` read on one thread inside the namespace."""
        try:
            return self._read_sysctls(namespace, tuple(keys))
        except (DriverError, OSError):
            return tuple((k, None) for k in keys)

    def _iptables_state(self, desired: DesiredRouter, with_nat_fips: bool
                        ) -> tuple[RestoreTexts, tuple]:
        """(the restore input that makes the rules the desired ones, the DNAT
        mapping in place if asked for).  When the ruleset stamp proves the
        desired rules in place, their mapping is the desired one."""
        observed = self.iptables(desired.namespace).observe(desired.tables)
        if not with_nat_fips:
            return observed.texts, ()
        if observed.saved is None:
            return observed.texts, tuple(sorted(desired.floating_ips.items()))
        return observed.texts, floating_dnat(observed.saved.get(4, ''))

    def observe(self, desired: DesiredRouter, ports: list | None = None,
                with_nat_fips: bool = False) -> rplan.ObservedRouter:
        ns = desired.namespace
        if not self.drivers.netns.exists(ns):       # all of its rules, its children
            return dataclasses.replace(
                self.observe_devices(desired, ports),
                iptables=self.iptables(ns).observe(desired.tables, empty=True).texts,
                **self._children(desired))
        names_wanted = desired.device_names
        keys = [k for k, _ in desired.sysctls + desired.device_sysctls]
        families = (4, 6) if _has_ipv6(desired) else (4,)
        view = self.drivers.links.observe_namespace(
            ns, families, keys if self._sysctls_in_visit else ())
        links = tuple(link for link in view.links if link.name != 'lo')
        here = {link.name for link in links}
        if ports is None:
            ports = self.ports_named(names_wanted | here)
        mine = tuple(p for p in ports if p.name in here or p.name in names_wanted)
        in_root = frozenset(p.name for p in mine if p.name in names_wanted
                            and p.name not in here
                            and self.drivers.links.has_device(None, p.name))
        sysctls = view.sysctls if self._sysctls_in_visit else self._sysctls(ns, keys)
        restore, nat_fips = self._iptables_state(desired, with_nat_fips)
        return rplan.ObservedRouter(True, links, mine, in_root, view.routes, sysctls,
                                    restore, nat_fips=nat_fips, **self._children(desired))

    def observe_devices(self, desired: DesiredRouter,
                        ports: list | None = None) -> rplan.ObservedRouter:
        """What the plan of a router whose namespace does not exist needs for its
        devices (its ports, plugged ahead or left by a deleted namespace; the
        caller has seen the namespace missing): the plug-ahead's question, asked
        without rendering its rules and looking for its children, which the
        reconcile does (the texts are kept for its retries).  Rendered here,
        every new router's rules were held from the plug-ahead, far ahead, to
        its reconcile (~7 KiB each: 11 MiB more RSS after a cold start of a
        thousand routers), and were 70 % of the CPU of the thread every
        reconcile waits for."""
        names_wanted = desired.device_names
        ports = self.ports_named(names_wanted) if ports is None else ports
        in_root = frozenset(p.name for p in ports if p.name in names_wanted
                            and self.drivers.links.has_device(None, p.name))
        mine = tuple(p for p in ports if p.name in names_wanted)
        return rplan.ObservedRouter(False, ovs_ports=mine, links_in_root=in_root)

    def _children(self, desired: DesiredRouter) -> dict:
        """The router's proxy and keepalived as they run (a listener: whether the
        shared proxy serves it, in today's namespace)."""
        found: dict = {}
        if isinstance(desired.proxy, ListenerSpec):
            found['listener_current'] = (self.node_proxy is not None
                                         and self.node_proxy.current(desired.proxy))
        elif desired.proxy is not None:
            found['proxy'] = self.children.observe(desired.proxy)
        if desired.keepalived is not None:
            found['keepalived'] = self.children.observe(desired.keepalived)
        return found

    def observe_existing(self, namespace: str, ports: list | None = None
                         ) -> rplan.ObservedRouter:
        """For a teardown: the namespace and the ports of its devices."""
        if not self.drivers.netns.exists(namespace):
            return rplan.ObservedRouter(False)
        links = self._links(namespace)
        here = {link.name for link in links}
        ports = self.ports_named(here) if ports is None else ports
        return rplan.ObservedRouter(True, links, tuple(p for p in ports if p.name in here))

    # -- applying --------------------------------------------------------------------

    def apply(self, action) -> None:
        handler = _HANDLERS.get(type(action))
        if handler is not None:
            handler(self, action)
            return
        try:
            dataplane.apply(self.drivers, action)
        finally:
            if isinstance(action, dev.PlugPort):
                self.touched(action.port.name)
            elif isinstance(action, dev.UnplugPort):
                self.touched(action.name)
        if isinstance(action, dev.DeleteNamespace):
            self.iptables.forget(action.namespace)


def _move_device(host: RouterHost, a: rplan.MoveDevice) -> None:
    host.drivers.links.move_to_namespace(a.name, a.namespace, mac=a.mac, mtu=a.mtu,
                                         up=a.up)


def _configure_device(host: RouterHost, a: rplan.ConfigureDevice) -> None:
    host.drivers.links.configure_device(a.namespace, a.name, a.addresses, a.gateways,
                                        a.announce)


def _delete_device(host: RouterHost, a: rplan.DeleteDevice) -> None:
    host.drivers.links.delete_device(a.namespace, a.name)


def _replace_route(host: RouterHost, a: rplan.ReplaceRoute) -> None:
    hops = a.route.nexthops
    if len(hops) == 1:
        host.drivers.links.replace_route(a.namespace, a.route.destination, gateway=hops[0])
    else:
        host.drivers.links.replace_route(a.namespace, a.route.destination, nexthops=hops)


def _delete_route(host: RouterHost, a: rplan.DeleteRoute) -> None:
    host.drivers.links.delete_route(a.namespace, a.destination)


def _garp(host: RouterHost, a: rplan.GratuitousArp) -> None:
    host.drivers.links.send_gratuitous_arp(a.namespace, a.name, a.address)


def _iptables(host: RouterHost, a: rplan.ApplyIptables) -> None:
    host.iptables(a.namespace).restore(a.texts)


def _conntrack(host: RouterHost, a: rplan.ClearConntrack) -> None:
    try:
        host.clear_conntrack(a.namespace, str(a.address))
    except (conntrack.ConntrackError, OSError) as exc:
        # Stale flows age out on their own; never fail a router over them.
        LOG.warning('%s: clearing conntrack entries of %s failed: %s', a.namespace,
                    a.address, exc)


def _child(host: RouterHost, a) -> None:
    host.children.apply(a)


def _listen(host: RouterHost, a: rplan.EnsureListener) -> None:
    host.node_proxy.ensure(a.spec)


def _unlisten(host: RouterHost, a: rplan.RemoveListener) -> None:
    if host.node_proxy is not None:
        host.node_proxy.remove(a.spec.resource_id)


_HANDLERS: dict[type, Callable] = {
    rplan.MoveDevice: _move_device,
    rplan.ConfigureDevice: _configure_device,
    rplan.DeleteDevice: _delete_device,
    rplan.ReplaceRoute: _replace_route,
    rplan.DeleteRoute: _delete_route,
    rplan.GratuitousArp: _garp,
    rplan.ApplyIptables: _iptables,
    rplan.ClearConntrack: _conntrack,
    **{kind: _child for kind in child.CHILD_ACTIONS},
    rplan.EnsureListener: _listen,
    rplan.RemoveListener: _unlisten,
}


def _sysctl_values(_ipr, keys):
    """Inside a namespace (on its netlink worker): each key's value, None if the
    kernel has no such key."""
    values = []
    for key in keys:
        try:
            with open('/proc/sys/' + key.replace('.', '/')) as f:
                values.append((key, f.read().strip()))
        except OSError:
            values.append((key, None))
    return values


def _has_ipv6(desired: DesiredRouter) -> bool:
    """Whether IPv6 routes can matter (without any IPv6 the kernel holds none of ours)."""
    return (any(r.destination.version == 6 for r in desired.routes)
            or any(a.version == 6 for d in desired.devices for a in d.addresses)
            or any(g.version == 6 for d in desired.devices for g in d.gateways))


def router_id_of(namespace: str) -> str | None:
    return names.id_from_namespace(namespace, names.ROUTER_NS_PREFIX)
