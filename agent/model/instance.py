"""An instance as the metadata agent sees the request behind it: typed, frozen.

Its ports and subnets are :mod:`agent.model.network`'s; the wire dict of the
controller's ``get_instance_metadata`` answer becomes an :class:`InstanceView` in
:func:`agent.rpc.codec.instance_view_from_wire`.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from agent.model.network import Port, Subnet


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
    dhcp_served: frozenset[str] = frozenset()           # subnets with a DHCP port

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
        return next((str(ip.ip_address) for ip in self.port.fixed_ips
                     if ip.ip_address.version == 4), '')

    @property
    def public_ipv4(self) -> str:
        return next((fip for port_id, fip in self.floating_ips
                     if port_id == self.port_id), '')
