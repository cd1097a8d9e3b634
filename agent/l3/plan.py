"""Plan one router: ``diff(DesiredRouter, ObservedRouter) -> Plan`` and its teardown.

Pure.  The per-device planning is :func:`agent.dataplane.device.diff`; this
module adds what a router has on top: one namespace holding several devices,
stale qr-/qg- devices, device sysctls, extra routes, gratuitous ARP for new
IPv4 addresses, the iptables apply, conntrack cleanup of changed floating-IP
mappings and the metadata proxy.  A converged router plans nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from agent.common import names
from agent.dataplane import device as dev
from agent.dataplane.device import (  # noqa: F401 - the router plan's
    ConfigureDevice, GratuitousArp, MoveDevice, coalesce, fold_device_config)
from agent.drivers import commands
from agent.drivers.iptables_diff import RestoreTexts
from agent.drivers.state import IPAddress, LinkState, NextHop, OvsPort, RouteState
from agent.l3.desired import DesiredRouter, ExtraRoute
from agent.metadata.node_proxy import ListenerSpec
from agent.process import actions as child
from agent.process.actions import ObservedChild
from agent.process.spec import ProcessSpec
from agent.reconcile.plan import Action, Plan

ROUTER_DEVICE_PREFIXES = (names.INTERNAL_PREFIX, names.GATEWAY_PREFIX, names.HA_PREFIX)


@dataclasses.dataclass(frozen=True, slots=True)
class ObservedRouter:
    """What exists of a router on the host (see :mod:`agent.l3.host`)."""
    namespace_exists: bool
    links: tuple[LinkState, ...] = ()              # devices in the namespace (no lo)
    ovs_ports: tuple[OvsPort, ...] = ()            # qr-/qg- ports on our two bridges
    links_in_root: frozenset[str] = frozenset()    # desired devices still in the root ns
    routes: tuple[RouteState, ...] = ()            # main table, both families
    sysctls: tuple[tuple[str, str | None], ...] = ()
    # The iptables-restore -n input (per IP version) that makes our chains the
    # desired ones (none: they are); for a namespace still to be made, all of them.
    iptables: RestoreTexts = ()
    proxy: ObservedChild = ObservedChild()         # its haproxy
    # (floating, fixed) of the DNAT rules in place, when asked for (after a restart
    # the agent does not know which mapping it applied last).
    nat_fips: tuple[tuple[IPAddress, IPAddress], ...] = ()
    keepalived: ObservedChild = ObservedChild()    # HA
    listener_current: bool = False                 # the shared proxy serves it

    def link(self, name: str) -> LinkState | None:
        return next((link for link in self.links if link.name == name), None)

    def port(self, name: str, bridge: str) -> OvsPort | None:
        return next((p for p in self.ovs_ports if p.name == name and p.bridge == bridge),
                    None)

    @property
    def default_routes(self) -> tuple[RouteState, ...]:
        return tuple(r for r in self.routes if r.is_default)

    @property
    def floating_ips(self) -> frozenset:
        """/32 addresses on the qg- device(s): the floating IPs in place."""
        return frozenset(a.ip for link in self.links
                         if link.name.startswith(names.GATEWAY_PREFIX)
                         for a in link.addresses
                         if a.version == 4 and a.network.prefixlen == 32)


# -- actions (the dataplane's cover plugging, addresses, default routes) -------------

@dataclasses.dataclass(frozen=True, slots=True)
class DeleteDevice(Action):
    """A stale device in the namespace that no OVS port of ours backs."""
    namespace: str
    name: str

    def describe(self):
        return commands.link_delete(self.namespace, self.name)


@dataclasses.dataclass(frozen=True, slots=True)
class ReplaceRoute(Action):
    namespace: str
    route: ExtraRoute

    def describe(self):
        hops = self.route.nexthops
        if len(hops) == 1:
            return commands.route_replace(self.namespace, self.route.destination,
                                          gateway=hops[0])
        return commands.route_replace(self.namespace, self.route.destination,
                                      nexthops=tuple(NextHop(h, None) for h in hops))


@dataclasses.dataclass(frozen=True, slots=True)
class DeleteRoute(Action):
    namespace: str
    destination: object

    def describe(self):
        return commands.route_delete(self.namespace, self.destination)


@dataclasses.dataclass(frozen=True, slots=True)
class ApplyIptables(Action):
    """The difference to our chains, as observed: what iptables-restore -n is fed."""
    namespace: str
    texts: RestoreTexts         # (IP version, restore input)

    def describe(self):
        return '\n'.join(commands.iptables_restore(self.namespace, version, text)
                         for version, text in self.texts)


@dataclasses.dataclass(frozen=True, slots=True)
class ClearConntrack(Action):
    namespace: str
    address: IPAddress

    def describe(self):
        return f'ip netns exec {self.namespace} conntrack -D -d {self.address}  # and -s, ' \
               '--reply-src, --reply-dst'


@dataclasses.dataclass(frozen=True, slots=True)
class EnsureListener(Action):
    """The shared metadata proxy serves the router (metadata_proxy_mode = shared)."""
    spec: ListenerSpec

    def describe(self):
        return self.spec.describe()


@dataclasses.dataclass(frozen=True, slots=True)
class RemoveListener(Action):
    spec: ListenerSpec

    def describe(self):
        return f'no more {self.spec.describe()}'


# -- planning -----------------------------------------------------------------------

def early_plugs(plan: Plan) -> list[dev.PlugPort]:
    """The plan's PlugPorts that no earlier action touches by device name (a stale
    port or device of that name removed first): these may start as soon as the
    plan is made, each waited for at its turn.  Plugging waits for ovs-vswitchd
    to make the tap: ~200 ms each on a loaded host, after the namespace and its
    sysctls (~100 ms) and one after the other; a new router's latency."""
    seen: set[str] = set()
    early = []
    for action in plan.actions:
        if isinstance(action, dev.PlugPort):
            if action.port.name not in seen:
                early.append(action)
            seen.add(action.port.name)
        elif isinstance(getattr(action, 'name', None), str):
            seen.add(action.name)
    return early


def first_plugs(plan: Plan) -> list:
    """What plugging a new router's ports ahead of its reconcile takes
    (agent.l3.plug_ahead): its PlugPorts, each after the CreateNamespace and
    CreateVethPair it needs (``ovs_use_veth``: a pair is made before its root end
    is plugged), in the plan's order.  Its reconcile then finds them made."""
    kinds: tuple[type, ...] = (dev.PlugPort,)
    if any(isinstance(a, dev.CreateVethPair) for a in plan.actions):
        kinds = (dev.CreateNamespace, dev.CreateVethPair, dev.PlugPort)
    return [a for a in plan.actions if isinstance(a, kinds)]


def _stale_devices(desired: DesiredRouter, observed: ObservedRouter,
                   bridges: tuple[str, ...]) -> list[Action]:
    actions: list[Action] = []
    for link in observed.links:
        if not link.name.startswith(ROUTER_DEVICE_PREFIXES):
            continue
        wanted = desired.device(link.name)
        plugged = [b for b in bridges if observed.port(link.name, b) is not None]
        if wanted is not None and wanted.bridge in plugged:
            continue
        # Not wanted, or not backed by the right port: remove it (the device plan
        # then plugs a fresh one of that name).
        actions += [dev.UnplugPort(bridge, link.name) for bridge in plugged]
        if not plugged:
            actions.append(DeleteDevice(desired.namespace, link.name))
    return actions


def _device(desired: dev.DesiredDevice, observed: ObservedRouter) -> list[Action]:
    seen = dev.ObservedDevice(
        namespace_exists=True, ovs_port=observed.port(desired.name, desired.bridge),
        link=observed.link(desired.name), link_in_root=desired.name in observed.links_in_root,
        default_routes=observed.default_routes)
    actions = list(dev.diff(desired, seen))
    garp = [GratuitousArp(desired.namespace, desired.name, a.address.ip)
            for a in actions if isinstance(a, dev.AddAddress) and a.address.version == 4]
    return actions + garp


def _sysctls(namespace: str, wanted, observed: Mapping[str, str | None],
             fresh: bool) -> list[Action]:
    stale = tuple((k, v) for k, v in wanted if fresh or observed.get(k) != str(v))
    return [dev.SetSysctls(namespace, stale)] if stale else []


def _extra_routes(desired: DesiredRouter, observed: ObservedRouter) -> list[Action]:
    have: dict = {}
    for route in observed.routes:
        if route.is_default or not (route.gateway or route.nexthops):
            continue
        hops = route.nexthops and tuple(sorted(h.gateway for h in route.nexthops
                                               if h.gateway is not None))
        have[route.dst] = hops or (route.gateway,)
    actions: list[Action] = []
    wanted = {r.destination: r for r in desired.routes}
    for dst in sorted(set(have) - set(wanted), key=lambda d: (d.version, d)):
        actions.append(DeleteRoute(desired.namespace, dst))
    for route in desired.routes:
        if have.get(route.destination) != route.nexthops:
            actions.append(ReplaceRoute(desired.namespace, route))
    return actions


def diff(desired: DesiredRouter, observed: ObservedRouter,
         previous_fips: Mapping[IPAddress, IPAddress] | None = None,
         bridges: tuple[str, ...] = ()) -> Plan:
    """The actions that make the host hold ``desired``.

    ``previous_fips`` is the floating -> fixed mapping last applied (if known):
    a mapping that changed or went away gets its conntrack entries cleared, as
    does a /32 found on qg- that is no longer wanted.  ``bridges`` are the
    integration and external bridges (where stale ports are looked for).
    """
    ns = desired.namespace
    fresh = not observed.namespace_exists
    actions: list[Action] = []
    if fresh:
        actions.append(dev.CreateNamespace(ns))
    actions += _sysctls(ns, desired.sysctls, dict(observed.sysctls), fresh)
    actions += _stale_devices(desired, observed, bridges)
    refused = set()
    for device in desired.devices:
        device_actions = _device(device, observed)
        refused |= {a.name for a in dev.refusals(device_actions)}
        actions += device_actions
    present = {d.name for d in desired.devices} - refused
    dev_sysctls = [(k, v) for k, v in desired.device_sysctls
                   if k.split('.')[3] in present]
    actions += _sysctls(ns, dev_sysctls, dict(observed.sysctls), fresh)
    if desired.keepalived is None:       # an HA router's routes are keepalived's
        actions += _extra_routes(desired, observed)
    if observed.iptables:
        actions.append(ApplyIptables(ns, observed.iptables))
    stale = {ip for ip in observed.floating_ips if ip not in desired.floating_ips}
    for ip, fixed in (previous_fips or {}).items():
        if desired.floating_ips.get(ip) != fixed:
            stale.add(ip)
    actions += [ClearConntrack(ns, ip) for ip in sorted(stale)]
    if desired.keepalived is not None:
        actions += child.diff(desired.keepalived, True, observed.keepalived)
    if isinstance(desired.proxy, ListenerSpec):
        if not observed.listener_current:
            actions.append(EnsureListener(desired.proxy))
    elif desired.proxy is not None:
        actions += child.diff(desired.proxy, True, observed.proxy)
    return Plan.of(actions)


def teardown(namespace: str, observed: ObservedRouter,
             children: tuple[tuple[ProcessSpec, ObservedChild], ...] = (),
             listener: ListenerSpec | None = None) -> Plan:
    """Remove everything of a router: its ``children`` in order (keepalived first:
    a backup takes over while the ports are still up; then its proxy), its shared
    proxy's ``listener`` (whose socket would keep the deleted namespace alive), its
    ports, its namespace."""
    actions: list[Action] = []
    for spec, seen in children:
        actions += child.diff(spec, False, seen)
    if listener is not None:
        actions.append(RemoveListener(listener))
    for port in observed.ovs_ports:
        actions.append(dev.UnplugPort(port.bridge, port.name))
    if observed.namespace_exists:
        actions.append(dev.DeleteNamespace(namespace))
    return Plan.of(actions)
