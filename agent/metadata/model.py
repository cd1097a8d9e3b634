"""What the metadata agent knows about the instance behind a request: typed, frozen.

:func:`instance_view_from_wire` is the only place that reads the wire dict of the
controller's ``get_instance_metadata`` answer (see
:func:`agent.controller.instances.instance_metadata`); a malformed answer raises
:class:`agent.rpc.codec.WireError`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import json

from agent.rpc.codec import Fields, WireError


@dataclasses.dataclass(frozen=True, slots=True)
class Subnet:
    id: str
    network_id: str
    cidr: str
    ip_version: int
    gateway_ip: str | None
    enable_dhcp: bool
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[tuple[str, str], ...] = ()      # (destination, nexthop)
    ipv6_address_mode: str | None = None
    dhcp_server: str | None = None                      # address of a DHCP port on it


@dataclasses.dataclass(frozen=True, slots=True)
class FixedIp:
    subnet_id: str
    ip_address: str


@dataclasses.dataclass(frozen=True, slots=True)
class Port:
    id: str
    network_id: str
    mac_address: str
    device_id: str
    device_owner: str
    project_id: str | None
    fixed_ips: tuple[FixedIp, ...]
    vif_type: str = 'ovs'


@dataclasses.dataclass(frozen=True, slots=True)
class Instance:
    """The stored data of an instance (defaults when none was set)."""
    device_id: str
    name: str = ''
    hostname: str = ''
    project_id: str | None = None
    availability_zone: str | None = None
    user_data: bytes | None = None
    public_keys: tuple[tuple[str, str], ...] = ()       # (name, key), sorted by name
    vendor_data: str = '{}'                             # a JSON object, as text


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceView:
    """One instance as seen by the request from ``remote_ip`` on port ``port_id``."""
    instance: Instance
    port_id: str
    remote_ip: str
    ports: tuple[Port, ...]
    network_mtus: tuple[tuple[str, int], ...]           # (network id, mtu)
    subnets: tuple[Subnet, ...]
    floating_ips: tuple[tuple[str, str], ...]           # (port id, floating address)

    @property
    def port(self) -> Port:
        return next(p for p in self.ports if p.id == self.port_id)

    def subnet(self, subnet_id: str) -> Subnet | None:
        return next((s for s in self.subnets if s.id == subnet_id), None)

    def mtu(self, network_id: str) -> int | None:
        return dict(self.network_mtus).get(network_id)

    @property
    def local_ipv4(self) -> str:
        """The requesting address if IPv4, else the port's first IPv4 address."""
        if ipaddress.ip_address(self.remote_ip).version == 4:
            return self.remote_ip
        return next((ip.ip_address for ip in self.port.fixed_ips
                     if ipaddress.ip_address(ip.ip_address).version == 4), '')

    @property
    def public_ipv4(self) -> str:
        return next((fip for port_id, fip in self.floating_ips
                     if port_id == self.port_id), '')


def port_from_wire(obj, what: str = 'port') -> Port:
    f = Fields(what, obj)
    ips = [FixedIp(ip.str('subnet_id'), ip.str('ip_address'))
           for ip in f.items('fixed_ips')]
    vif_type = f.raw('binding:vif_type', 'ovs')
    return Port(id=f.str('id'), network_id=f.str('network_id'),
                mac_address=f.str('mac_address'), device_id=f.str('device_id', ''),
                device_owner=f.str('device_owner', ''),
                project_id=f.raw('project_id', None) or f.raw('tenant_id', None),
                fixed_ips=tuple(ips), vif_type=vif_type if isinstance(vif_type, str)
                else 'ovs')


def _subnet_from_wire(obj, what: str) -> Subnet:
    f = Fields(what, obj)
    routes = [(r.str('destination'), r.str('nexthop'))
              for r in f.items('host_routes', [])]
    version = f.raw('ip_version')
    if version not in (4, 6):
        raise f.error('ip_version', f'{version!r} is not 4 or 6')
    return Subnet(id=f.str('id'), network_id=f.str('network_id'), cidr=f.str('cidr'),
                  ip_version=version, gateway_ip=f.raw('gateway_ip', None) or None,
                  enable_dhcp=bool(f.raw('enable_dhcp', True)),
                  dns_nameservers=f.strings('dns_nameservers'),
                  host_routes=tuple(routes),
                  ipv6_address_mode=f.raw('ipv6_address_mode', None),
                  dhcp_server=f.raw('dhcp_server', None))


def instance_from_wire(device_id: str, obj) -> Instance:
    if obj is None:
        return Instance(device_id=device_id)
    f = Fields('instance', obj)
    raw_ud = f.raw('user_data', None)
    try:
        user_data = None if raw_ud is None else base64.b64decode(raw_ud, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise f.error('user_data', 'is not base64') from None
    keys = f.raw('public_keys', {}) or {}
    if not isinstance(keys, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                             for k, v in keys.items()):
        raise f.error('public_keys', 'is not an object of strings')
    vendor = f.raw('vendor_data', {}) or {}
    if not isinstance(vendor, dict):
        raise f.error('vendor_data', 'is not an object')
    return Instance(device_id=device_id, name=f.str('name', ''),
                    hostname=f.str('hostname', ''), project_id=f.raw('project_id', None),
                    availability_zone=f.raw('availability_zone', None),
                    user_data=user_data, public_keys=tuple(sorted(keys.items())),
                    vendor_data=json.dumps(vendor, sort_keys=True))


def instance_view_from_wire(answer, port: Port, remote_ip: str) -> InstanceView:
    """The view of ``port``'s instance from a ``get_instance_metadata`` answer."""
    f = Fields('get_instance_metadata reply', answer)
    ports = tuple(port_from_wire(p.data, 'get_instance_metadata reply.ports')
                  for p in f.items('ports'))
    if port.id not in {p.id for p in ports}:
        ports = (port,) + ports       # e.g. deleted meanwhile: still answer for it
    nets = f.raw('networks', {})
    if not isinstance(nets, dict):
        raise WireError('get_instance_metadata reply', 'networks', 'is not an object')
    mtus = tuple(sorted((str(k), int(v.get('mtu') or 0)) for k, v in nets.items()
                        if isinstance(v, dict)))
    subnets = tuple(_subnet_from_wire(s.data, 'get_instance_metadata reply.subnets')
                    for s in f.items('subnets'))
    fips = [(fip.str('port_id'), fip.str('floating_ip_address'))
            for fip in f.items('floating_ips', [])]
    instance = instance_from_wire(port.device_id, f.raw('instance', None))
    if instance.project_id is None and port.project_id:
        instance = dataclasses.replace(instance, project_id=port.project_id)
    return InstanceView(instance=instance, port_id=port.id, remote_ip=remote_ip,
                        ports=ports, network_mtus=mtus, subnets=subnets,
                        floating_ips=tuple(fips))
