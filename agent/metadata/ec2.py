"""The EC2-compatible metadata tree, as Nova's metadata API serves it; pure.

``/`` lists the versions; ``/<version>/`` lists ``meta-data/`` and, when the
instance has user data, ``user-data``.  Directories print their children one a
line (sub-directories with a trailing ``/``); ``public-keys/`` prints
``<index>=<name>`` lines, ``public-keys/<index>/`` prints ``openssh-key``.

There is no EC2 id mapping here, so ``instance-id`` is ``i-`` and 8 hex digits of
SHA-256 of the device id: stable for an instance, and the same on every node.
"""

from __future__ import annotations

import hashlib

from agent.model.instance import InstanceView

VERSIONS = ('1.0', '2007-01-19', '2007-03-01', '2007-08-29', '2007-10-10',
            '2007-12-15', '2008-02-01', '2008-09-01', '2009-04-04')
# VIF types Nova shows as they are in network_data.json links (others are 'phy').
LEGACY_VIF_TYPES = ('bridge', 'dvs', 'hw_veb', 'hyperv', 'ovs', 'tap', 'vhostuser',
                    'vif')
AMI_ID = 'ami-00000000'
INSTANCE_TYPE = 'netnode'


def _hex8(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def instance_id(device_id: str) -> str:
    return 'i-' + _hex8(device_id)


def reservation_id(device_id: str) -> str:
    return 'r-' + _hex8('reservation:' + device_id)


def _since(required: str, version: str) -> bool:
    return VERSIONS.index(version) >= VERSIONS.index(required)


def meta_data(view: InstanceView, version: str, hostname: str) -> dict:
    """The ``meta-data/`` tree of ``version`` (Nova's keys per version)."""
    inst = view.instance
    md: dict = {
        'ami-id': AMI_ID,
        'ami-launch-index': 0,
        'ami-manifest-path': 'FIXME',
        'instance-id': instance_id(inst.device_id),
        'hostname': hostname,
        'local-ipv4': view.local_ipv4,
        'reservation-id': reservation_id(inst.device_id),
        'security-groups': [],
    }
    if inst.public_keys:
        md['public-keys'] = {
            str(i): {'_name': f'{i}={name}', 'openssh-key': key}
            for i, (name, key) in enumerate(inst.public_keys)}
    if _since('2007-01-19', version):
        md['local-hostname'] = hostname
        md['public-hostname'] = hostname
        md['public-ipv4'] = view.public_ipv4
    if _since('2007-08-29', version):
        md['instance-type'] = INSTANCE_TYPE
    if _since('2007-12-15', version):
        md['block-device-mapping'] = {'ami': 'vda', 'root': '/dev/vda'}
    if _since('2008-02-01', version):
        md['placement'] = {'availability-zone': inst.availability_zone or 'nova'}
    if _since('2008-09-01', version):
        md['instance-action'] = 'none'
    return md


def tree(view: InstanceView, version: str, hostname: str) -> dict:
    data: dict = {'meta-data': meta_data(view, version, hostname)}
    if view.instance.user_data is not None:
        data['user-data'] = view.instance.user_data
    return data


def render(node) -> bytes:
    """Nova's ``ec2_md_print``: directories as sorted listings, lists one a line."""
    if isinstance(node, dict):
        lines = []
        for key in sorted(node):
            if key == '_name':
                continue
            child = node[key]
            if isinstance(child, dict):
                lines.append(str(child['_name']) if '_name' in child else key + '/')
            else:
                lines.append(key)
        return '\n'.join(lines).encode()
    if isinstance(node, list):
        return '\n'.join(str(item) for item in node).encode()
    if isinstance(node, bytes):
        return node
    return str(node).encode()


def lookup(view: InstanceView, tokens: list[str], hostname: str
           ) -> tuple[bool, bytes] | None:
    """(is user data, body) at ``tokens`` (after the ``/ec2`` prefix), or None."""
    if not tokens:
        return False, '\n'.join(VERSIONS + ('latest',)).encode()
    version = VERSIONS[-1] if tokens[0] == 'latest' else tokens[0]
    if version not in VERSIONS:
        return None
    node = tree(view, version, hostname)
    for token in tokens[1:]:
        if not isinstance(node, dict) or token not in node or token == '_name':
            return None
        node = node[token]
    return isinstance(node, bytes), render(node)
