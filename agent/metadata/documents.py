"""The instance documents, as Nova's metadata API serves them; pure functions.

:func:`lookup` maps a request path to a :class:`Document` for one
:class:`~agent.model.instance.InstanceView`, following Nova's routing: paths
under ``/openstack`` are the OpenStack format (``/openstack`` lists the dated
versions and ``latest``; ``/openstack/<version>`` lists that version's files),
every other path is the EC2 format (:mod:`agent.metadata.ec2`), with ``/``
listing the EC2 versions.  An unknown path, version or file, or absent user
data, is a 404, as clouds answer.

The formats (OpenStack ``meta_data.json``/``network_data.json`` as Nova
documents and cloud-init reads them) are checked by
``tests/unit/metadata/test_documents.py``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import posixpath

from agent.common import names
from agent.metadata import ec2
from agent.model.instance import InstanceView
from agent.model.network import Port, Subnet

FOLSOM = '2012-08-10'
GRIZZLY = '2013-04-04'
HAVANA = '2013-10-17'
LIBERTY = '2015-10-15'
NEWTON_ONE = '2016-06-30'
NEWTON_TWO = '2016-10-06'
OCATA = '2017-02-22'
ROCKY = '2018-08-27'
VICTORIA = '2020-10-14'
OPENSTACK_VERSIONS = (FOLSOM, GRIZZLY, HAVANA, LIBERTY, NEWTON_ONE, NEWTON_TWO, OCATA,
                      ROCKY, VICTORIA)

MD_JSON = 'meta_data.json'
UD = 'user_data'
PASSWORD = 'password'
VD_JSON = 'vendor_data.json'
NW_JSON = 'network_data.json'
VD2_JSON = 'vendor_data2.json'

TEXT = 'text/plain; charset=UTF-8'
JSON = 'application/json'
OCTETS = 'application/octet-stream'


@dataclasses.dataclass(frozen=True, slots=True)
class Document:
    status: int
    content_type: str
    body: bytes


def text(lines) -> Document:
    return Document(200, TEXT, '\n'.join(lines).encode())


def json_doc(obj) -> Document:
    return Document(200, JSON, json.dumps(obj).encode())


NOT_FOUND = Document(404, TEXT, b'404 Not Found\n\nThe resource could not be found.\n')


def _since(required: str, version: str, versions=OPENSTACK_VERSIONS) -> bool:
    return versions.index(version) >= versions.index(required)


def openstack_version(token: str) -> str | None:
    if token == 'latest':
        return OPENSTACK_VERSIONS[-1]
    return token if token in OPENSTACK_VERSIONS else None


def openstack_files(view: InstanceView, version: str) -> list[str]:
    """What ``/openstack/<version>`` lists (Nova's order)."""
    files = [MD_JSON]
    if view.instance.user_data is not None:
        files.append(UD)
    if _since(GRIZZLY, version):
        files.append(PASSWORD)
    if _since(HAVANA, version):
        files.append(VD_JSON)
    if _since(LIBERTY, version):
        files.append(NW_JSON)
    if _since(NEWTON_TWO, version):
        files.append(VD2_JSON)
    return files


def hostname(view: InstanceView) -> str:
    """The stored host name; else one made from the name; else ``host-<ip>``."""
    inst = view.instance
    if inst.hostname:
        return inst.hostname
    made = _sanitize(inst.name)
    return made or 'host-' + view.remote_ip.replace('.', '-').replace(':', '-')


def _sanitize(name: str) -> str:
    out = []
    for c in name.lower():
        out.append(c if c.isascii() and (c.isalnum() or c in '.-') else '-')
    labels = [label.strip('-')[:63] for label in ''.join(out).split('.')]
    return '.'.join(label for label in labels if label)


def key_type(key: str) -> str:
    return 'x509' if key.startswith('-----BEGIN CERTIFICATE') else 'ssh'


def meta_data(view: InstanceView, version: str) -> dict:
    """``meta_data.json`` of ``version``: Nova's keys, in Nova's order."""
    inst = view.instance
    md: dict = {'uuid': inst.device_id, 'meta': {}}
    if inst.public_keys:
        md['public_keys'] = dict(inst.public_keys)
        md['keys'] = [{'name': name, 'type': key_type(key), 'data': key}
                      for name, key in inst.public_keys]
    md['hostname'] = hostname(view)
    md['name'] = inst.name or md['hostname']
    md['launch_index'] = 0
    md['availability_zone'] = inst.availability_zone or 'nova'
    if _since(GRIZZLY, version):
        md['random_seed'] = base64.b64encode(os.urandom(512)).decode('ascii')
    if _since(LIBERTY, version):
        md['project_id'] = inst.project_id
    if _since(NEWTON_ONE, version):
        md['devices'] = []
    if _since(VICTORIA, version):
        md['dedicated_cpus'] = []
    return md


def link_name(port: Port) -> str:
    """The tap device name Nova reports as the link id (``tap`` + 11 of the id)."""
    return names.tap_name(port.id)


def _routes(subnet: Subnet) -> list[dict]:
    routes = []
    if subnet.gateway_ip is not None:
        any_ = '0.0.0.0' if subnet.ip_version == 4 else '::'
        routes.append({'network': any_, 'netmask': any_, 'gateway': str(subnet.gateway_ip)})
    for route in subnet.host_routes:
        net = route.destination
        routes.append({'network': str(net.network_address), 'netmask': str(net.netmask),
                       'gateway': str(route.nexthop)})
    return routes


def _dns(subnet: Subnet) -> list[dict]:
    return [{'type': 'dns', 'address': address} for address in subnet.dns_nameservers]


_V6_TYPES = {'slaac': 'ipv6_slaac', 'dhcpv6-stateless': 'ipv6_dhcpv6-stateless',
             'dhcpv6-stateful': 'ipv6_dhcpv6-stateful'}


def _network_entry(view: InstanceView, port: Port, subnet: Subnet, address: str,
                   number: int) -> dict:
    entry = {'id': f'network{number}', 'link': link_name(port),
             'network_id': port.network_id}
    if subnet.ip_version == 4 and subnet.enable_dhcp and subnet.id in view.dhcp_served:
        # Nova: a subnet with a DHCP server is configured by DHCP.
        return {'id': entry['id'], 'type': 'ipv4_dhcp', 'link': entry['link'],
                'network_id': port.network_id}
    net_type = 'ipv4' if subnet.ip_version == 4 else _V6_TYPES.get(
        subnet.ipv6_address_mode or '', 'ipv6')
    entry.update({'type': net_type, 'ip_address': address,
                  'netmask': str(subnet.cidr.netmask),
                  'routes': _routes(subnet), 'services': _dns(subnet)})
    return {k: entry[k] for k in ('id', 'type', 'link', 'ip_address', 'netmask',
                                  'routes', 'network_id', 'services')}


def network_data(view: InstanceView) -> dict:
    """``network_data.json``: one link per port, one network per fixed IP."""
    links, networks, services = [], [], []
    for port in view.ports:
        link = {'id': link_name(port), 'vif_id': port.id,
                'type': port.vif_type if port.vif_type in ec2.LEGACY_VIF_TYPES else 'phy',
                'mtu': view.mtu(port.network_id) or None,
                'ethernet_mac_address': port.mac_address}
        links.append(link)
        for ip in port.fixed_ips:
            subnet = view.subnet(ip.subnet_id)
            if subnet is None:
                continue
            networks.append(_network_entry(view, port, subnet, str(ip.ip_address),
                                           len(networks)))
            for dns in _dns(subnet):
                if dns not in services:
                    services.append(dns)
    return {'links': links, 'networks': networks, 'services': services}


def vendor_data(view: InstanceView) -> dict:
    return json.loads(view.instance.vendor_data)


def vendor_data2(view: InstanceView) -> dict:
    """Nova's dynamic vendor data: the static vendor data under ``static``."""
    static = vendor_data(view)
    return {'static': static} if static else {}


def _openstack(view: InstanceView, tokens: list[str]) -> Document:
    if not tokens:
        return text(list(OPENSTACK_VERSIONS) + ['latest'])
    version = openstack_version(tokens[0])
    if version is None:
        return NOT_FOUND
    if len(tokens) == 1:
        return text(openstack_files(view, version))
    if len(tokens) != 2 or tokens[1] not in openstack_files(view, version):
        return NOT_FOUND
    name = tokens[1]
    if name == MD_JSON:
        return json_doc(meta_data(view, version))
    if name == UD:
        return Document(200, OCTETS, view.instance.user_data or b'')
    if name == PASSWORD:
        return Document(200, TEXT, b'')
    if name == VD_JSON:
        return json_doc(vendor_data(view))
    if name == NW_JSON:
        return json_doc(network_data(view))
    return json_doc(vendor_data2(view))


def split_path(path: str) -> list[str] | None:
    """Path tokens (no empty ones), or None for a path that tries to escape."""
    raw = path.split('?', 1)[0]
    if '\\' in raw or '\0' in raw:
        return None
    if any(part == '..' for part in raw.split('/')):
        return None
    norm = posixpath.normpath('/' + raw)
    return [t for t in norm.split('/') if t]


def lookup(view: InstanceView, path: str) -> Document:
    tokens = split_path(path)
    if tokens is None:
        return NOT_FOUND
    if tokens and tokens[0] == 'openstack':
        return _openstack(view, tokens[1:])
    if tokens and tokens[0] == 'ec2':
        tokens = tokens[1:]
    found = ec2.lookup(view, tokens, hostname(view))
    if found is None:
        return NOT_FOUND
    is_user_data, body = found
    return Document(200, OCTETS if is_user_data else TEXT, body)
