"""Wire dicts (Neutron's agent RPC payloads) → :mod:`agent.model` dataclasses.

The only module that knows the wire field names of networks, subnets, ports,
routers and the metadata agent's instances.  Every problem raises :class:`WireError` naming the object, the field
(with its path, e.g. ``fixed_ips[0].ip_address``) and what is wrong, so a bad
message can be logged precisely and dropped.  Event payloads are decoded in
:mod:`agent.rpc.events` with the same readers.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import dataclasses
import ipaddress
import json
import logging
import sys
from collections.abc import Mapping

from agent.common import dhcp_fields
from agent.common.names import is_uuid
from agent.model.instance import Instance, InstanceView
from agent.model.network import (IPV6_DHCP_STATEFUL, IPV6_DHCP_STATELESS, IPV6_SLAAC,
                                 DhcpOpt, FixedIP, HostRoute, Network, Port, Segment,
                                 Subnet)
from agent.model.router import (FloatingIP, Route, Router, RouterPort,
                                RouterSubnet)

LOG = logging.getLogger(__name__)
_MISSING = object()


class WireError(ValueError):
    """A payload that does not have the shape Neutron's agent RPC gives it."""

    def __init__(self, obj: str, field: str, problem: str):
        self.obj = obj
        self.field = field
        self.problem = problem
        super().__init__(f'{obj}: field {field}: {problem}')


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


class Fields:
    """Typed reads of one wire dict; errors name ``obj`` and the field path."""

    def __init__(self, obj: str, data, prefix: str = ''):
        self.obj = obj
        self.prefix = prefix
        if not isinstance(data, Mapping):
            raise WireError(obj, prefix.rstrip('.') or '(body)',
                            f'{_short(data)} is not an object')
        self.data = data

    def error(self, name: str, problem: str) -> WireError:
        return WireError(self.obj, self.prefix + name, problem)

    def raw(self, name: str, default=_MISSING):
        value = self.data.get(name, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise self.error(name, 'missing')
            return default
        return value

    def uuid(self, name: str, default=_MISSING) -> str:
        value = self.raw(name, default)
        if value is default and default is not _MISSING:
            return value
        if not is_uuid(value):
            raise self.error(name, f'{_short(value)} is not a UUID')
        return sys.intern(value)

    def optional_uuid(self, name: str) -> str | None:
        value = self.raw(name, None)
        return None if value is None else self.uuid(name)

    def str(self, name: str, default=_MISSING) -> str:
        value = self.raw(name, default)
        if value is None and default is not _MISSING:
            return default
        if not isinstance(value, str):
            raise self.error(name, f'{_short(value)} is not a string')
        return sys.intern(value)

    def bool(self, name: builtins.str, default=_MISSING) -> builtins.bool:
        value = self.raw(name, default)
        if value is None and default is not _MISSING:
            return default
        if not isinstance(value, bool):
            raise self.error(name, f'{_short(value)} is not a boolean')
        return value

    def int(self, name: builtins.str, default=_MISSING) -> builtins.int:
        value = self.raw(name, default)
        if value is None and default is not _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f'{_short(value)} is not an integer')
        return value

    def ip(self, name: builtins.str, default=_MISSING):
        value = self.raw(name, default)
        if value is None and default is not _MISSING:
            return default
        try:
            return ipaddress.ip_address(value)
        except (ValueError, TypeError):
            raise self.error(name, f'{_short(value)} is not an IP address') from None

    def cidr(self, name: builtins.str):
        value = self.raw(name)
        try:
            return ipaddress.ip_network(value, strict=False)
        except (ValueError, TypeError):
            raise self.error(name, f'{_short(value)} is not a CIDR') from None

    def items(self, name: builtins.str, default=_MISSING) -> list[Fields]:
        """A list of objects, each as Fields with the path ``name[i].``."""
        value = self.raw(name, default)
        if value is None and default is not _MISSING:
            value = default
        if not isinstance(value, (list, tuple)):
            raise self.error(name, f'{_short(value)} is not a list')
        return [Fields(self.obj, item, f'{self.prefix}{name}[{i}].')
                for i, item in enumerate(value)]

    def strings(self, name: builtins.str, default=()) -> tuple[builtins.str, ...]:
        value = self.raw(name, default)
        if value is None:
            return tuple(default)
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, str) for v in value):
            raise self.error(name, f'{_short(value)} is not a list of strings')
        return tuple(value)

    def uuids(self, name: builtins.str) -> tuple[builtins.str, ...]:
        value = self.raw(name)
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise self.error(name, f'{_short(value)} is not a list')
        for i, item in enumerate(value):
            if not is_uuid(item):
                raise self.error(f'{name}[{i}]', f'{_short(item)} is not a UUID')
        return tuple(value)


def object_name(kind: str, data) -> str:
    """``'port <id>'`` when the payload has a usable id, else just ``kind``."""
    if isinstance(data, Mapping) and isinstance(data.get('id'), str):
        return f'{kind} {data["id"][:36]}'
    return kind


# DHCP side ----------------------------------------------------------------------

def subnet_from_wire(data, network_id: str | None = None) -> Subnet:
    f = Fields(object_name('subnet', data), data)
    cidr = f.cidr('cidr')
    ip_version = f.int('ip_version', cidr.version)
    if ip_version != cidr.version:
        raise f.error('ip_version', f'{ip_version} does not match cidr {cidr}')
    gateway = f.ip('gateway_ip', None)
    if gateway is not None and gateway.version != ip_version:
        raise f.error('gateway_ip', f'{gateway} is not an IPv{ip_version} address')
    routes = tuple(HostRoute(r.cidr('destination'), r.ip('nexthop'))
                   for r in f.items('host_routes', ()))
    return Subnet(
        id=f.uuid('id'),
        network_id=f.uuid('network_id') if network_id is None
        else f.uuid('network_id', network_id),
        cidr=cidr, ip_version=ip_version, gateway_ip=gateway,
        enable_dhcp=f.bool('enable_dhcp', True),
        dns_nameservers=tuple(str(ip) for ip in _addresses(f, 'dns_nameservers')),
        host_routes=routes,
        ipv6_address_mode=f.str('ipv6_address_mode', None),
        ipv6_ra_mode=f.str('ipv6_ra_mode', None),
        name=f.str('name', ''))


def _addresses(f: Fields, name: str) -> list:
    """A list of IP addresses (they are written into dnsmasq's opts file)."""
    out = []
    for i, value in enumerate(f.strings(name)):
        try:
            out.append(ipaddress.ip_address(value))
        except ValueError:
            raise f.error(f'{name}[{i}]', f'{_short(value)} is not an IP address') from None
    return out


def _fixed_ips(f: Fields) -> tuple[FixedIP, ...]:
    return tuple(FixedIP(subnet_id=item.uuid('subnet_id'),
                         ip_address=item.ip('ip_address'))
                 for item in f.items('fixed_ips', ()))


def _dhcp_opt(item: Fields) -> DhcpOpt:
    """One ``extra_dhcp_opts`` item, checked as the API checks it
    (:mod:`agent.common.dhcp_fields`): nothing reaches dnsmasq's files that could
    add a line or a field."""
    try:
        version = dhcp_fields.ip_version(item.raw('ip_version', 4))
    except dhcp_fields.FieldError as e:
        raise item.error('ip_version', str(e)) from None
    try:
        name = dhcp_fields.opt_name(item.raw('opt_name'), version)
    except dhcp_fields.FieldError as e:
        raise item.error('opt_name', str(e)) from None
    value = item.raw('opt_value')
    if isinstance(value, float) and not isinstance(value, bool):
        value = str(value)
    try:
        value = dhcp_fields.opt_value(value, name)
    except dhcp_fields.FieldError as e:
        raise item.error('opt_value', str(e)) from None
    return DhcpOpt(opt_name=name, opt_value=value, ip_version=version)


def _dns_assignment(f: Fields) -> tuple[tuple[str, str, str], ...]:
    out = []
    for item in f.items('dns_assignment', ()):
        names = []
        for name in ('hostname', 'fqdn'):
            try:
                names.append(dhcp_fields.dns_name(item.str(name, '')))
            except dhcp_fields.FieldError as e:
                raise item.error(name, str(e)) from None
        out.append((str(item.ip('ip_address')), *names))
    return tuple(out)


_MAC_HEX = frozenset('0123456789abcdef')


def _mac(f: Fields, name: str = 'mac_address') -> str:
    value = f.raw(name)
    parts = value.lower().split(':') if isinstance(value, str) else []
    if len(parts) != 6 or not all(len(p) == 2 and set(p) <= _MAC_HEX for p in parts):
        raise f.error(name, f'{_short(value)} is not a MAC address')
    return ':'.join(parts)


def port_from_wire(data, network_id: str | None = None) -> Port:
    f = Fields(object_name('port', data), data)
    return Port(
        id=f.uuid('id'),
        network_id=f.uuid('network_id') if network_id is None
        else f.uuid('network_id', network_id),
        mac_address=_mac(f),
        fixed_ips=_fixed_ips(f),
        device_owner=f.str('device_owner', ''),
        device_id=f.str('device_id', ''),
        admin_state_up=f.bool('admin_state_up', True),
        extra_dhcp_opts=tuple(_dhcp_opt(i) for i in f.items('extra_dhcp_opts', ())
                              if i.raw('opt_value', None) is not None),
        binding_host_id=f.str('binding:host_id', ''),
        revision_number=f.int('revision_number', 0),
        name=f.str('name', ''),
        dns_assignment=_dns_assignment(f),
        project_id=f.str('project_id', '') or f.str('tenant_id', ''),
        vif_type=f.str('binding:vif_type', 'ovs'))


def network_from_wire(data) -> Network:
    """A network-info dict (get_network_info / get_active_networks_info)."""
    f = Fields(object_name('network', data), data)
    net_id = f.uuid('id')
    subnets = tuple(_nested(subnet_from_wire, f, 'subnets', net_id))
    ports = tuple(_nested(port_from_wire, f, 'ports', net_id, skip_bad=True))
    return Network(
        id=net_id,
        project_id=f.str('project_id', '') or f.str('tenant_id', ''),
        admin_state_up=f.bool('admin_state_up', True),
        mtu=f.int('mtu', 0),
        subnets=subnets, ports=ports,
        name=f.str('name', ''),
        segment=segment_from_wire(f))


def segment_from_wire(f: Fields) -> Segment | None:
    """A network's provider attributes, None if it has none."""
    segment = Segment(network_type=f.str('provider:network_type', None),
                      physical_network=f.str('provider:physical_network', None),
                      segmentation_id=f.int('provider:segmentation_id', None))
    return None if segment == Segment() else segment


def _nested(decode, parent: Fields, name: str, *args, skip_bad: bool = False):
    """Decode each item of a list, re-raising errors with the parent's name.

    ``skip_bad``: an item that does not decode is left out with an ERROR naming
    it and the field (one bad port must not stop a network being served).
    """
    value = parent.raw(name, ())
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise parent.error(name, f'{_short(value)} is not a list')
    return _each(decode, value, parent.obj, f'{parent.prefix}{name}', *args,
                 skip_bad=skip_bad)


def _each(decode, items, obj: str, path: str, *args, skip_bad: bool = False) -> list:
    out = []
    for i, item in enumerate(items):
        try:
            out.append(decode(item, *args))
        except WireError as e:
            error = WireError(obj, f'{path}[{i}].{e.field}', f'{e.problem} (in {e.obj})')
            if not skip_bad:
                raise error from None
            LOG.error('Refusing %s: %s', e.obj, error)
    return out


# L3 side --------------------------------------------------------------------------

IPV6_RA_MODES = (IPV6_SLAAC, IPV6_DHCP_STATEFUL, IPV6_DHCP_STATELESS)


def _router_subnet(item: Fields) -> RouterSubnet:
    cidr = item.cidr('cidr')
    ra_mode = item.str('ipv6_ra_mode', None)
    if ra_mode is not None and (cidr.version != 6 or ra_mode not in IPV6_RA_MODES):
        raise item.error('ipv6_ra_mode', f'{ra_mode!r} is not one of '
                         f'{", ".join(IPV6_RA_MODES)} on an IPv6 subnet')
    return RouterSubnet(id=item.uuid('id'), cidr=cidr,
                        gateway_ip=item.ip('gateway_ip', None),
                        dns_nameservers=tuple(_addresses(item, 'dns_nameservers')),
                        ipv6_ra_mode=ra_mode)


def router_port_from_wire(data) -> RouterPort:
    """An enriched gateway or interface port (fixed_ips carry ``prefixlen``)."""
    f = Fields(object_name('router port', data), data)
    subnets = tuple(_router_subnet(i) for i in f.items('subnets', ()))
    by_id = {s.id: s for s in subnets}
    fixed = []
    for item in f.items('fixed_ips', ()):
        address = item.ip('ip_address')
        subnet_id = item.uuid('subnet_id')
        prefixlen = item.raw('prefixlen', None)
        if prefixlen is None:
            if subnet_id not in by_id:
                raise item.error('prefixlen', 'missing, and the subnet is not listed')
            prefixlen = by_id[subnet_id].cidr.prefixlen
        prefixlen = item.int('prefixlen', prefixlen)
        if not 0 <= prefixlen <= address.max_prefixlen:
            raise item.error('prefixlen', f'{prefixlen} is out of range')
        fixed.append((address, prefixlen, subnet_id))
    return RouterPort(
        id=f.uuid('id'),
        network_id=f.uuid('network_id'),
        mac_address=_mac(f),
        fixed_ips=tuple(fixed),
        subnets=subnets,
        mtu=f.int('mtu', 1500),
        admin_state_up=f.bool('admin_state_up', True),
        extra_subnets=tuple(_router_subnet(i) for i in f.items('extra_subnets', ())),
        segment=segment_from_wire(f))


def floatingip_from_wire(data) -> FloatingIP:
    f = Fields(object_name('floating ip', data), data)
    return FloatingIP(
        id=f.uuid('id'),
        floating_ip_address=f.ip('floating_ip_address'),
        fixed_ip_address=f.ip('fixed_ip_address', None),
        port_id=f.optional_uuid('port_id'),
        floating_network_id=f.uuid('floating_network_id'),
        status=f.str('status', 'DOWN'))


def router_from_wire(data) -> Router:
    """One router dict of ``sync_routers`` (§4.3 of the fact sheet)."""
    f = Fields(object_name('router', data), data)
    router_id = f.uuid('id')
    gw_info = f.raw('external_gateway_info', None)
    enable_snat = True
    if gw_info is not None:
        g = Fields(f.obj, gw_info, 'external_gateway_info.')
        g.uuid('network_id')
        enable_snat = g.bool('enable_snat', True)
    enable_snat = f.bool('enable_snat', enable_snat)
    gw_port = None
    if f.raw('gw_port', None) is not None:
        gw_port = _one(router_port_from_wire, f, 'gw_port')
    routes = tuple(Route(r.cidr('destination'), r.ip('nexthop'))
                   for r in f.items('routes', ()))
    ha, vr_id, ha_port, ha_state = _ha_fields(f)
    return Router(
        id=router_id,
        name=f.str('name', ''),
        project_id=f.str('project_id', '') or f.str('tenant_id', ''),
        admin_state_up=f.bool('admin_state_up', True),
        enable_snat=enable_snat,
        gw_port=gw_port,
        interfaces=tuple(_nested(router_port_from_wire, f, '_interfaces')),
        routes=routes,
        floating_ips=tuple(_nested(floatingip_from_wire, f, '_floatingips')),
        ha=ha, ha_vr_id=vr_id, ha_port=ha_port, ha_state=ha_state)


HA_STATES = ('active', 'standby', 'unknown')
VRID_RANGE = range(1, 256)          # VRRP's virtual_router_id


def _ha_fields(f: Fields):
    """(ha, ha_vr_id, HA port, _ha_state) of a router dict; an HA router without
    its VRID or this host's HA port is refused (keepalived cannot run without them)."""
    if not f.bool('ha', False):
        return False, 0, None, 'unknown'
    vr_id = f.int('ha_vr_id')
    if vr_id not in VRID_RANGE:
        raise f.error('ha_vr_id', f'{vr_id} is not a VRRP router id (1..255)')
    if f.raw('_ha_interface', None) is None:
        raise f.error('_ha_interface', 'missing: an HA router needs this host\'s HA port')
    ha_port = _one(router_port_from_wire, f, '_ha_interface')
    if not any(ip.version == 4 for ip, _, _ in ha_port.fixed_ips):
        raise f.error('_ha_interface.fixed_ips', 'the HA port has no IPv4 address')
    state = f.str('_ha_state', 'unknown') or 'unknown'
    if state not in HA_STATES:
        raise f.error('_ha_state', f'{state!r} is not one of {", ".join(HA_STATES)}')
    return True, vr_id, ha_port, state


def _one(decode, parent: Fields, name: str):
    try:
        return decode(parent.raw(name))
    except WireError as e:
        raise WireError(parent.obj, f'{parent.prefix}{name}.{e.field}',
                        f'{e.problem} (in {e.obj})') from None


# Metadata side --------------------------------------------------------------------

def ports_from_wire(data, obj: str = 'get_ports reply') -> tuple[Port, ...]:
    """A ``get_ports`` answer; a port that does not decode is left out with an ERROR
    naming it (as a network's ports are)."""
    if not isinstance(data, (list, tuple)):
        raise WireError(obj, '(result)', f'{type(data).__name__} is not a list')
    return tuple(_each(port_from_wire, data, obj, '', skip_bad=True))


def instance_from_wire(device_id: str, data) -> Instance:
    """The ``instance`` of a ``get_instance_metadata`` answer (None: defaults)."""
    if data is None:
        return Instance(device_id=device_id)
    f = Fields('get_instance_metadata reply', data, 'instance.')
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
                    hostname=f.str('hostname', ''), project_id=f.str('project_id', None),
                    availability_zone=f.str('availability_zone', None),
                    user_data=user_data, public_keys=tuple(sorted(keys.items())),
                    vendor_data=json.dumps(vendor, sort_keys=True))


def _mtus(f: Fields) -> tuple[tuple[str, int], ...]:
    """(network id, mtu) of the answer's ``networks`` object ``{id: {mtu, ...}}``."""
    nets = f.raw('networks', {})
    if not isinstance(nets, Mapping):
        raise f.error('networks', f'{_short(nets)} is not an object')
    return tuple(sorted((network_id, Fields(f.obj, net, f'networks.{network_id}.')
                         .int('mtu', 0)) for network_id, net in nets.items()))


def instance_view_from_wire(answer, port: Port, remote_ip: str) -> InstanceView:
    """The view of ``port``'s instance from a ``get_instance_metadata`` answer:
    the instance, its ports, their networks' MTUs, the subnets of their fixed IPs
    (with ``dhcp_server``, Nova's) and their floating IPs."""
    f = Fields('get_instance_metadata reply', answer)
    ports = tuple(_nested(port_from_wire, f, 'ports', skip_bad=True))
    if port.id not in {p.id for p in ports}:
        ports = (port,) + ports       # e.g. deleted meanwhile: still answer for it
    subnets = tuple(_nested(subnet_from_wire, f, 'subnets'))
    dhcp_served = frozenset(s.id for s, item in zip(subnets, f.items('subnets', ()))
                            if item.ip('dhcp_server', None) is not None)
    fips = tuple((fip.uuid('port_id'), str(fip.ip('floating_ip_address')))
                 for fip in f.items('floating_ips', ()))
    instance = instance_from_wire(port.device_id, f.raw('instance', None))
    if instance.project_id is None and port.project_id:
        instance = dataclasses.replace(instance, project_id=port.project_id)
    return InstanceView(instance=instance, port_id=port.id, remote_ip=remote_ip,
                        ports=ports, network_mtus=_mtus(f), subnets=subnets,
                        floating_ips=fips, dhcp_served=dhcp_served)
