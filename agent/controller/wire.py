"""Database rows -> Neutron v2.0 wire dicts, and the list filters of the API."""

from __future__ import annotations

import datetime
import ipaddress

from agent.controller.db import models

DEVICE_OWNER_DHCP = 'network:dhcp'
DEVICE_OWNER_ROUTER_INTF = 'network:router_interface'
DEVICE_OWNER_ROUTER_GW = 'network:router_gateway'
DEVICE_OWNER_FLOATINGIP = 'network:floatingip'
DEVICE_OWNER_ROUTER_HA_INTF = 'network:router_ha_interface'
ROUTER_PORT_OWNERS = (DEVICE_OWNER_ROUTER_INTF, DEVICE_OWNER_ROUTER_GW)


def timestamp(value: datetime.datetime | None) -> str | None:
    return value.strftime('%Y-%m-%dT%H:%M:%SZ') if value else None


def agent_timestamp(value: datetime.datetime | None) -> str | None:
    return value.strftime('%Y-%m-%d %H:%M:%S') if value else None


def _standard(row) -> dict:
    return {'id': row.id, 'name': row.name, 'project_id': row.project_id,
            'tenant_id': row.project_id, 'description': row.description,
            'revision_number': row.revision_number, 'tags': [],
            'created_at': timestamp(row.created_at), 'updated_at': timestamp(row.updated_at)}


def network_dict(net: models.Network, subnet_ids: list[str] | None = None) -> dict:
    d = _standard(net)
    d.update({
        'admin_state_up': net.admin_state_up, 'status': net.status, 'shared': net.shared,
        'mtu': net.mtu, 'router:external': net.external,
        'provider:network_type': net.network_type,
        'provider:physical_network': net.physical_network,
        'provider:segmentation_id': net.segmentation_id,
        'subnets': sorted(subnet_ids if subnet_ids is not None
                          else [s.id for s in net.subnets]),
        'availability_zone_hints': list(net.availability_zone_hints or []),
        'availability_zones': [], 'ipv4_address_scope': None,
        'ipv6_address_scope': None, 'port_security_enabled': True,
    })
    return d


def subnet_dict(subnet: models.Subnet) -> dict:
    d = _standard(subnet)
    d.update({
        'network_id': subnet.network_id, 'ip_version': subnet.ip_version,
        'cidr': subnet.cidr, 'gateway_ip': subnet.gateway_ip,
        'allocation_pools': [dict(p) for p in subnet.allocation_pools],
        'dns_nameservers': list(subnet.dns_nameservers),
        'host_routes': [dict(r) for r in subnet.host_routes],
        'enable_dhcp': subnet.enable_dhcp, 'ipv6_address_mode': subnet.ipv6_address_mode,
        'ipv6_ra_mode': subnet.ipv6_ra_mode, 'subnetpool_id': None, 'segment_id': None,
        'service_types': [],
    })
    return d


def fixed_ips(port: models.Port) -> list[dict]:
    return [{'subnet_id': a.subnet_id, 'ip_address': a.ip_address} for a in port.fixed_ips]


def port_dict(port: models.Port) -> dict:
    d = _standard(port)
    d.update({
        'network_id': port.network_id, 'mac_address': port.mac_address,
        'admin_state_up': port.admin_state_up, 'status': port.status,
        'device_id': port.device_id, 'device_owner': port.device_owner,
        'fixed_ips': fixed_ips(port), 'binding:host_id': port.host,
        'binding:vif_type': 'ovs' if port.host else 'unbound',
        'binding:vnic_type': 'normal', 'binding:profile': {}, 'binding:vif_details': {},
        'extra_dhcp_opts': [dict(o) for o in port.extra_dhcp_opts],
        'allowed_address_pairs': [], 'security_groups': [],
        'port_security_enabled': False,
    })
    return d


def gateway_info(router: models.Router, gw_port: models.Port | None) -> dict | None:
    if gw_port is None:
        return None
    return {'network_id': gw_port.network_id, 'enable_snat': router.enable_snat,
            'external_fixed_ips': fixed_ips(gw_port)}


def router_dict(router: models.Router, gw_port: models.Port | None) -> dict:
    d = _standard(router)
    d.update({
        'admin_state_up': router.admin_state_up, 'status': router.status,
        'external_gateway_info': gateway_info(router, gw_port),
        'routes': [dict(r) for r in router.routes], 'distributed': False, 'ha': bool(router.ha),
        'availability_zone_hints': list(router.availability_zone_hints or []),
        'availability_zones': [], 'flavor_id': None,
    })
    return d


def floatingip_dict(fip: models.FloatingIP) -> dict:
    d = _standard(fip)
    del d['name']
    d.update({
        'floating_ip_address': fip.floating_ip_address,
        'floating_network_id': fip.floating_network_id, 'router_id': fip.router_id,
        'port_id': fip.fixed_port_id, 'fixed_ip_address': fip.fixed_ip_address,
        'status': fip.status, 'port_details': None,
    })
    return d


def agent_dict(agent: models.Agent, alive: bool) -> dict:
    return {
        'id': agent.id, 'agent_type': agent.agent_type, 'binary': agent.binary,
        'host': agent.host, 'topic': agent.topic,
        'availability_zone': agent.availability_zone,
        'configurations': dict(agent.configurations or {}),
        'resource_versions': agent.resource_versions,
        'admin_state_up': agent.admin_state_up, 'alive': alive,
        'heartbeat_timestamp': agent_timestamp(agent.heartbeat_timestamp),
        'started_at': agent_timestamp(agent.started_at),
        'created_at': agent_timestamp(agent.created_at),
        'description': agent.description, 'resources_synced': agent.resources_synced,
    }


# Filters and fields --------------------------------------------------------------

def _same(actual, wanted) -> bool:
    if isinstance(actual, bool):
        return str(wanted).lower() in (('true', '1') if actual else ('false', '0'))
    if actual is None:
        return wanted in (None, '', 'None', 'null')
    return str(actual) == str(wanted)


def _fixed_ips_match(ips: list[dict], wanted) -> bool:
    """``fixed_ips=ip_address=X`` / ``subnet_id=Y`` strings, or a dict of lists."""
    if isinstance(wanted, dict):
        return all(any(str(ip.get(k)) in [str(v) for v in vals] for ip in ips)
                   for k, vals in wanted.items())
    for item in wanted:
        key, _, value = str(item).partition('=')
        if key == 'ip_address_substr':
            if any(value in ip['ip_address'] for ip in ips):
                return True
        elif any(str(ip.get(key)) == value for ip in ips):
            return True
    return False


def matches(item: dict, filters: dict | None) -> bool:
    for field, wanted in (filters or {}).items():
        if field == 'fixed_ips':
            if not _fixed_ips_match(item.get('fixed_ips', []), wanted):
                return False
            continue
        if field not in item:
            continue   # Neutron ignores unknown filters
        values = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
        actual = item[field]
        if isinstance(actual, list):
            if not any(str(v) in [str(a) for a in actual] for v in values):
                return False
        elif not any(_same(actual, v) for v in values):
            return False
    return True


def select_fields(item: dict, fields) -> dict:
    if not fields:
        return item
    return {k: item[k] for k in fields if k in item}


def prefixlen(cidr: str) -> int:
    return ipaddress.ip_network(cidr).prefixlen
