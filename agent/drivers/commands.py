"""Each driver mutation rendered as the shell command an operator would type.

Drivers log these at debug level just before acting; planners can render their
plans with the same functions. Pure string building, no side effects.
"""

from __future__ import annotations

import shlex
from typing import Any, Iterable, Mapping, Optional, Sequence


def _join(argv: Sequence[Any]) -> str:
    return shlex.join(str(a) for a in argv)


def _ip(ns: Optional[str], *argv: Any) -> str:
    return _join((('ip', '-n', ns) if ns else ('ip',)) + argv)


def netns_add(name: str) -> str:
    return _join(('ip', 'netns', 'add', name))


def netns_delete(name: str) -> str:
    return _join(('ip', 'netns', 'delete', name))


def sysctl_set(ns: Optional[str], key: str, value: Any) -> str:
    prefix = ('ip', 'netns', 'exec', ns) if ns else ()
    return _join(prefix + ('sysctl', '-w', f'{key}={value}'))


def link_set(ns: Optional[str], dev: str, *, up: Optional[bool] = None,
             mac: Optional[str] = None, mtu: Optional[int] = None,
             netns: Optional[str] = None) -> str:
    argv: list = ['link', 'set', dev]
    if netns is not None:
        argv += ['netns', netns]
    if mac is not None:
        argv += ['address', mac]
    if mtu is not None:
        argv += ['mtu', mtu]
    if up is not None:
        argv.append('up' if up else 'down')
    return _ip(ns, *argv)


def link_delete(ns: Optional[str], dev: str) -> str:
    return _ip(ns, 'link', 'delete', dev)


def addr_add(ns: Optional[str], dev: str, cidr: Any, broadcast: Any = None) -> str:
    brd = ('brd', broadcast) if broadcast is not None else ()
    return _ip(ns, 'addr', 'add', cidr, *brd, 'dev', dev)


def addr_delete(ns: Optional[str], dev: str, cidr: Any) -> str:
    return _ip(ns, 'addr', 'delete', cidr, 'dev', dev)


def _route_args(dst: Any, gateway: Any = None, dev: Optional[str] = None,
                table: Optional[int] = None, scope: Optional[str] = None,
                nexthops: Iterable = (), proto: Optional[str] = None) -> list:
    argv: list = ['default' if str(dst) in ('0.0.0.0/0', '::/0') else dst]
    if gateway is not None:
        argv += ['via', gateway]
    if dev is not None:
        argv += ['dev', dev]
    for hop in nexthops:
        argv.append('nexthop')
        if hop.gateway is not None:
            argv += ['via', hop.gateway]
        if hop.dev is not None:
            argv += ['dev', hop.dev]
    if table not in (None, 254):
        argv += ['table', table]
    if scope is not None:
        argv += ['scope', scope]
    if proto is not None:
        argv += ['proto', proto]
    return argv


def route_replace(ns: Optional[str], dst: Any, **kw: Any) -> str:
    return _ip(ns, 'route', 'replace', *_route_args(dst, **kw))


def route_delete(ns: Optional[str], dst: Any, **kw: Any) -> str:
    return _ip(ns, 'route', 'delete', *_route_args(dst, **kw))


def iptables_restore(ns: Optional[str], version: int, text: str) -> str:
    """``iptables-restore -n`` (``ip6tables-`` for IPv6) fed ``text``, as a heredoc."""
    binary = 'iptables-restore' if version == 4 else 'ip6tables-restore'
    prefix = f'ip netns exec {shlex.quote(ns)} ' if ns else ''
    return f'{prefix}{binary} -n <<EOF\n{text}EOF'


def arping(ns: str, dev: str, ip: Any) -> list:
    """argv (not a string): the driver runs it."""
    return ['ip', 'netns', 'exec', ns, 'arping', '-U', '-I', dev, '-c', '1', '-w', '2',
            str(ip)]


def ovs_add_bridge(name: str, datapath_type: str) -> str:
    return _join(('ovs-vsctl', '--may-exist', 'add-br', name, '--', 'set', 'Bridge', name,
                  f'datapath_type={datapath_type}'))


def ovs_add_patch_port(bridge: str, name: str, peer: str) -> str:
    return _join(('ovs-vsctl', '--may-exist', 'add-port', bridge, name, '--', 'set',
                  'Interface', name, 'type=patch', f'options:peer={peer}'))


def ovs_del_bridge(name: str) -> str:
    return _join(('ovs-vsctl', '--if-exists', 'del-br', name))


def ovs_replace_port(bridge: str, name: str, external_ids: Mapping[str, str],
                     tag: Optional[int] = None, dead_vlan: bool = False,
                     internal: bool = True) -> str:
    argv = ['ovs-vsctl', '--if-exists', 'del-port', bridge, name, '--', 'add-port',
            bridge, name]
    if tag is not None:
        argv.append(f'tag={tag}')
    if dead_vlan:
        argv += ['vlan_mode=trunk', f'trunks={tag}']
    argv += ['--', 'set', 'Interface', name] + (['type=internal'] if internal else [])
    argv += [f'external_ids:{k}={v}' for k, v in sorted(external_ids.items())]
    return _join(argv)


def ovs_del_port(bridge: str, name: str) -> str:
    return _join(('ovs-vsctl', '--if-exists', 'del-port', bridge, name))


def ovs_set_tag(name: str, tag: Optional[int]) -> str:
    if tag is None:
        return _join(('ovs-vsctl', 'clear', 'Port', name, 'tag'))
    return _join(('ovs-vsctl', 'set', 'Port', name, f'tag={tag}'))


def ovs_set_bridge_key(bridge: str, key: str, value: Any) -> str:
    return _join(('ovs-vsctl', 'set', 'Bridge', bridge, f'external_ids:{key}={value}'))


def ovs_remove_bridge_key(bridge: str, key: str) -> str:
    return _join(('ovs-vsctl', 'remove', 'Bridge', bridge, 'external_ids', key))
