"""Observe and apply plugged devices through the drivers (the only side effects)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable

from agent.dataplane import device as dev
from agent.drivers import Links, Netns, Ovs
from agent.process import sweep

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class HostDrivers:
    """The drivers the dataplane needs, injected (real ones or fakes)."""
    netns: Netns
    links: Links
    ovs: Ovs


def host_drivers(conf) -> HostDrivers:
    """The real drivers (imported here: only a running agent needs pyroute2, ovsdb_client).

    Plugs made at the same time (a full sync) share one OVSDB transaction.
    """
    from agent.dataplane.plug_batch import PlugBatcher
    from agent.drivers.link import LinkDriver
    from agent.drivers.netns import NetnsDriver
    from agent.drivers.ovs import OvsDriver
    return HostDrivers(NetnsDriver(), LinkDriver(), PlugBatcher(OvsDriver.from_conf(conf)))


def observe(drivers: HostDrivers, desired: dev.DesiredDevice,
            ovs_ports: dict | None = None) -> dev.ObservedDevice:
    """What exists of ``desired`` on the host.

    ``ovs_ports`` (name -> OvsPort of the bridge) lets a full sync list each bridge
    once instead of once per device.
    """
    ns, name = desired.namespace, desired.name
    if ovs_ports is None:
        ovs_ports = {p.name: p for p in drivers.ovs.list_ports(desired.bridge)}
    port = ovs_ports.get(name)
    if not drivers.netns.exists(ns):
        in_root = port is not None and drivers.links.observe_link(None, name) is not None
        return dev.ObservedDevice(False, port, None, in_root)
    view = drivers.links.observe_device(ns, name, (k for k, _ in desired.sysctls))
    in_root = view.link is None and port is not None and (
        drivers.links.observe_link(None, name) is not None)
    return dev.ObservedDevice(True, port, view.link, in_root, view.default_routes,
                              view.sysctls)


def apply(drivers: HostDrivers, action: dev.Action) -> None:
    handler = _HANDLERS.get(type(action))
    if handler is None:
        raise TypeError(f'no executor for {type(action).__name__}')
    handler(drivers, action)


def _create_namespace(d: HostDrivers, a: dev.CreateNamespace) -> None:
    d.netns.create(a.namespace)


def _set_sysctls(d: HostDrivers, a: dev.SetSysctls) -> None:
    d.netns.set_sysctls(a.namespace, dict(a.values))


def _plug(d: HostDrivers, a: dev.PlugPort) -> None:
    d.ovs.plug_ports(a.bridge, [a.port])


def _set_tag(d: HostDrivers, a: dev.SetTag) -> None:
    d.ovs.set_port_tag(a.name, a.tag)


def _move(d: HostDrivers, a: dev.MoveToNamespace) -> None:
    d.links.move_to_namespace(a.name, a.namespace)


def _move_device(d: HostDrivers, a: dev.MoveDevice) -> None:
    d.links.move_to_namespace(a.name, a.namespace, mac=a.mac, mtu=a.mtu, up=a.up)


def _set_mac(d: HostDrivers, a: dev.SetMac) -> None:
    d.links.set_mac(a.namespace, a.name, a.mac)


def _set_mtu(d: HostDrivers, a: dev.SetMtu) -> None:
    d.links.set_mtu(a.namespace, a.name, a.mtu)


def _set_up(d: HostDrivers, a: dev.SetUp) -> None:
    d.links.set_up(a.namespace, a.name)


def _add_address(d: HostDrivers, a: dev.AddAddress) -> None:
    d.links.add_address(a.namespace, a.name, a.address)


def _configure_device(d: HostDrivers, a: dev.ConfigureDevice) -> None:
    d.links.configure_device(a.namespace, a.name, a.addresses, a.gateways, a.announce)


def _delete_address(d: HostDrivers, a: dev.DeleteAddress) -> None:
    d.links.delete_address(a.namespace, a.name, a.address)


def _set_gateway(d: HostDrivers, a: dev.SetDefaultGateway) -> None:
    d.links.set_default_gateway(a.namespace, a.name, a.gateway)


def _delete_default(d: HostDrivers, a: dev.DeleteDefaultRoute) -> None:
    dst = '0.0.0.0/0' if a.version == 4 else '::/0'
    d.links.delete_route(a.namespace, dst)


def _create_veth(d: HostDrivers, a: dev.CreateVethPair) -> None:
    d.links.create_veth(a.namespace, a.name, a.mac, a.mtu)


def _unplug(d: HostDrivers, a: dev.UnplugPort) -> None:
    d.ovs.delete_port(a.bridge, a.name)
    # An internal port's device goes with its port; a veth pair's root end
    # stays, and deleting it deletes the pair.
    d.links.delete_veth(a.name)


def _refuse(d: HostDrivers, a: dev.RefuseDevice) -> None:
    LOG.error('%s: port %s refused: its device %s would be port %s\'s, which exists '
              '(device names are a prefix and the first 11 characters of the port id); '
              'that device is left where it is', a.namespace, a.port_id, a.name,
              a.holder_id)


def _delete_namespace(d: HostDrivers, a: dev.DeleteNamespace) -> None:
    # Nothing keeps running in it as an anonymous namespace (dnsmasq, haproxy,
    # radvd, or anything else started in a namespace of ours).
    sweep.stop_all_in(a.namespace)
    d.netns.delete(a.namespace, force=True)


_HANDLERS: dict[type, Callable[[HostDrivers, Any], None]] = {
    dev.CreateNamespace: _create_namespace,
    dev.SetSysctls: _set_sysctls,
    dev.PlugPort: _plug,
    dev.CreateVethPair: _create_veth,
    dev.SetTag: _set_tag,
    dev.MoveToNamespace: _move,
    dev.MoveDevice: _move_device,
    dev.SetMac: _set_mac,
    dev.SetMtu: _set_mtu,
    dev.SetUp: _set_up,
    dev.AddAddress: _add_address,
    dev.ConfigureDevice: _configure_device,
    dev.DeleteAddress: _delete_address,
    dev.SetDefaultGateway: _set_gateway,
    dev.DeleteDefaultRoute: _delete_default,
    dev.UnplugPort: _unplug,
    dev.RefuseDevice: _refuse,
    dev.DeleteNamespace: _delete_namespace,
}
