"""Create and delete probes: REST port + plugged device in ``qprobe-<port id>``."""

from __future__ import annotations

import dataclasses
import logging

from agent.common import names
from agent.dataplane import device as dev
from agent.dataplane import executor
from agent.drivers import LocalVlanAllocator
from agent.drivers.state import DEAD_VLAN, PortSpec
from agent.reconcile.plan import execute

LOG = logging.getLogger(__name__)

DEVICE_OWNER = 'compute:probe'       # neutron-debug's convention
NS_PREFIX = 'qprobe-'
DEV_PREFIX = 'prb'                   # not 'tap': the DHCP agent owns tap* on br-int


class ProbeError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class ProbeHost:
    """Where probes are plugged: this host's name and integration bridge."""
    host: str
    bridge: str
    local_vlan_tagging: bool = True

    @classmethod
    def from_conf(cls, conf) -> ProbeHost:
        return cls(conf.host, conf.ovs.integration_bridge, conf.ovs.local_vlan_tagging)


def probe_namespace(port_id: str) -> str:
    return NS_PREFIX + names.validate_uuid(port_id, 'probe port id')


def probe_device(port_id: str) -> str:
    return names.device_name(DEV_PREFIX, port_id)


def device_id(host: str) -> str:
    return f'probe-{host}'


def desired_probe(port: dict, mtu: int | None, where: ProbeHost, tag: int
                  ) -> dev.DesiredDevice:
    """The probe's device: the port's MAC, the MTU, the tag, no addresses (pure)."""
    spec = PortSpec(probe_device(port['id']), port['id'], port['mac_address'], tag)
    return dev.DesiredDevice(probe_namespace(port['id']), where.bridge, spec,
                             mtu or None, frozenset(), (),
                             (('net.ipv6.conf.default.accept_ra', 0),),
                             manage_tag=where.local_vlan_tagging)


def plug(drivers: executor.HostDrivers, vlans: LocalVlanAllocator, where: ProbeHost, port: dict,
         mtu: int | None) -> dev.DesiredDevice:
    tag = vlans.tag_for(port['network_id']) if where.local_vlan_tagging else DEAD_VLAN
    desired = desired_probe(port, mtu, where, tag)
    plan = dev.diff(desired, executor.observe(drivers, desired))
    execute(plan, lambda a: executor.apply(drivers, a), f'probe {port["id"]}', LOG)
    return desired


def unplug(drivers: executor.HostDrivers, where: ProbeHost, port_id: str) -> None:
    ns, name = probe_namespace(port_id), probe_device(port_id)
    plugged = {p.name for p in drivers.ovs.list_ports(where.bridge)}
    plan = dev.teardown_devices(ns, where.bridge, [name] if name in plugged else [],
                                drivers.netns.exists(ns))
    execute(plan, lambda a: executor.apply(drivers, a), f'probe {port_id}', LOG)


def create_probe(client, drivers: executor.HostDrivers, vlans: LocalVlanAllocator,
                 where: ProbeHost, network_ref: str,
                 name: str | None = None) -> dict:
    """A REST port on the network, plugged into its own namespace; returns the port
    with ``namespace`` and ``device`` added."""
    network = client.find('network', 'networks', network_ref)
    body = {'network_id': network['id'], 'device_owner': DEVICE_OWNER,
            'device_id': device_id(where.host), 'binding:host_id': where.host}
    if name:
        body['name'] = name
    port = client.create('port', 'ports', body)
    try:
        desired = plug(drivers, vlans, where, port, network.get('mtu'))
    except Exception as exc:
        LOG.error('probe %s: plugging failed, removing it: %s', port['id'], exc)
        try:
            unplug(drivers, where, port['id'])
        finally:
            client.delete('ports', port['id'])
        raise ProbeError(f'probe on network {network["id"]}: plugging port '
                         f'{port["id"]} failed: {exc}') from exc
    return dict(port, namespace=desired.namespace, device=desired.name)


def delete_probe(client, drivers: executor.HostDrivers, where: ProbeHost,
                 probe_ref: str) -> str:
    """Unplug the probe, remove its namespace and delete its port; returns the id."""
    port = client.find('port', 'ports', probe_ref)
    if port.get('device_owner') != DEVICE_OWNER:
        raise ProbeError(f'port {port["id"]}: device_owner is '
                         f'{port.get("device_owner")!r}, not a probe ({DEVICE_OWNER})')
    unplug(drivers, where, port['id'])
    client.delete('ports', port['id'])
    return port['id']
