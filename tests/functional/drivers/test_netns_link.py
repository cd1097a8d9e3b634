"""Namespaces, devices, addresses, routes and sysctls against the real kernel and OVS."""

import ipaddress
import socket
import subprocess
import threading
import uuid

import pytest

from agent.common import polling
from agent.drivers import link, netns
from agent.drivers.state import (
    PROTO_STATIC, SCOPE_LINK, DeviceNotFound, NamespaceNotEmpty, NamespaceNotFound)
from tests.functional.drivers.conftest import port_name

pytestmark = pytest.mark.functional


def ip(*argv):
    return subprocess.run(['ip', *argv], capture_output=True, text=True, check=True).stdout


def test_namespace_lifecycle(leaks):
    name = leaks.namespace(f'qrouter-{uuid.uuid4()}')
    assert netns.create(name) is True
    try:
        assert netns.create(name) is False
        assert netns.exists(name) and name in netns.list_namespaces()
        assert name in ip('netns', 'list')                 # iproute2 sees it too
        assert link.observe_link(name, 'lo').up
        assert netns.devices_in(name) == []
    finally:
        assert netns.delete(name) is True
    assert not netns.exists(name) and netns.delete(name) is False
    with pytest.raises(NamespaceNotFound, match=name):
        link.list_links(name)


def test_a_namespace_made_with_its_sysctls_runs_work_on_its_worker(leaks):
    name = leaks.namespace(f'qdhcp-{uuid.uuid4()}')
    assert netns.create(name, {'net.ipv4.ip_nonlocal_bind': 1}) is True
    try:
        assert netns.sysctl_get(name, 'net.ipv4.ip_nonlocal_bind') == '1'
        assert link.observe_link(name, 'lo').up
        # a live worker runs run_in's calls (inside the namespace: its lo only)
        assert netns.run_in(name, lambda: threading.current_thread().name) == \
            f'netlink-{name}'
        assert netns.run_in(name, lambda: socket.if_nameindex()) == [(1, 'lo')]
        assert netns.create(name, {'net.ipv4.ip_nonlocal_bind': 0}) is False
        assert netns.sysctl_get(name, 'net.ipv4.ip_nonlocal_bind') == '1'
    finally:
        assert netns.delete(name) is True


def test_beyond_lingering_the_least_recently_used_idle_workers_stop(make_namespace,
                                                                     monkeypatch):
    """A full sync does not leave a thread per namespace behind (LINGERING), and a
    worker with a call queued or running is never the one stopped."""
    monkeypatch.setattr(netns, 'LINGERING', 2)
    names = [make_namespace('qrouter-') for _ in range(4)]   # each creator stays its worker

    def live():
        return {t.name for t in threading.enumerate()} & {f'netlink-{n}' for n in names}

    def workers(*picked):
        return {f'netlink-{names[i]}' for i in picked}
    polling.wait_for(lambda: live() == workers(2, 3), 2, 0.02, 'the two oldest stopping')
    netns.call_netlink(names[0], lambda _ipr: None)      # a new worker: 2 stops
    polling.wait_for(lambda: live() == workers(3, 0), 2, 0.02, 'the oldest idle stopping')
    gate = threading.Event()
    busy = threading.Thread(target=netns.call_netlink,
                            args=(names[0], lambda _ipr: gate.wait(5)))
    busy.start()
    polling.wait_for(lambda: netns._workers[names[0]].pending == 1, 2, 0.01,
                     'the call running')
    netns.call_netlink(names[3], lambda _ipr: None)      # 0 (busy) is the oldest now
    netns.call_netlink(names[1], lambda _ipr: None)
    polling.wait_for(lambda: live() == workers(0, 1), 2, 0.02, 'the oldest idle one stopping')
    gate.set()
    busy.join(5)
    assert netns.call_netlink(names[0], lambda _ipr: socket.if_nameindex()) == [(1, 'lo')]


def test_sysctls_are_per_namespace_and_idempotent(make_namespace):
    ns = make_namespace('qrouter-')
    wanted = {'net.ipv4.ip_forward': 1, 'net.ipv4.conf.all.arp_ignore': 1,
              'net.ipv4.conf.all.arp_announce': 2}
    assert netns.set_sysctls(ns, wanted) == {k: str(v) for k, v in wanted.items()}
    assert netns.set_sysctls(ns, wanted) == {}
    assert netns.sysctl_get(ns, 'net.ipv4.conf.all.arp_announce') == '2'
    out = subprocess.run(['ip', 'netns', 'exec', ns, 'sysctl', '-n', 'net.ipv4.ip_forward'],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == '1'
    other = make_namespace('qdhcp-')
    assert netns.sysctl_get(other, 'net.ipv4.ip_forward') == '0'


def plug(ovs, bridge, ns, mac, cidrs, gateway, tag=5):
    dev, port_id = port_name(), str(uuid.uuid4())
    ovs.replace_internal_port(bridge, dev, port_id, mac, tag=tag)
    link.set_mac(None, dev, mac)
    link.move_to_namespace(dev, ns)
    link.set_up(ns, dev)
    link.set_addresses(ns, dev, cidrs)
    link.set_default_gateway(ns, dev, gateway)
    return dev, port_id


def test_reference_dhcp_port(ovs, make_bridge, make_namespace):
    bridge, ns = make_bridge(), make_namespace()
    dev, port_id = plug(ovs, bridge, ns, 'fa:16:3e:73:4a:f9',
                        ['192.168.10.2/24', '169.254.169.254/16'], '192.168.10.1')
    [port] = ovs.list_ports(bridge)
    assert (port.name, port.iface_id, port.mac, port.tag) == \
        (dev, port_id, 'fa:16:3e:73:4a:f9', 5)
    assert dict(port.external_ids) == {'iface-id': port_id, 'iface-status': 'active',
                                       'attached-mac': 'fa:16:3e:73:4a:f9'}
    state = link.observe_link(ns, dev)
    assert state.up and state.mac == 'fa:16:3e:73:4a:f9' and state.kind == 'tun'
    assert {str(a) for a in state.addresses} == {'192.168.10.2/24', '169.254.169.254/16'}
    assert str(state.broadcast('192.168.10.2/24')) == '192.168.10.255'
    assert all(a.is_link_local for a in state.link_local)
    assert f'inet 192.168.10.2/24 brd 192.168.10.255 scope global {dev}' in \
        ip('-n', ns, 'addr', 'show', dev)
    routes = {str(r.dst): r for r in link.observe_routes(ns, 4)}
    assert routes['0.0.0.0/0'].gateway == ipaddress.ip_address('192.168.10.1')
    assert routes['0.0.0.0/0'].proto == PROTO_STATIC and routes['0.0.0.0/0'].dev == dev
    assert 'default via 192.168.10.1 dev %s proto static' % dev in ip('-n', ns, 'route')
    with pytest.raises(NamespaceNotEmpty, match=dev):
        netns.delete(ns)

    # a second apply of the same state changes nothing
    before = (link.observe_link(ns, dev), link.observe_routes(ns, 4))
    assert link.set_addresses(ns, dev, ['192.168.10.2/24', '169.254.169.254/16']) == ([], [])
    link.set_default_gateway(ns, dev, '192.168.10.1')
    assert (link.observe_link(ns, dev), link.observe_routes(ns, 4)) == before

    # exact set: the metadata address goes, a new one comes, link-local stays
    added, removed = link.set_addresses(ns, dev, ['192.168.10.3/24'])
    assert [str(a) for a in added] == ['192.168.10.3/24']
    assert {str(a) for a in removed} == {'192.168.10.2/24', '169.254.169.254/16'}
    assert link.observe_link(ns, dev).link_local == state.link_local


def test_addresses_and_default_routes_in_one_call(ovs, make_bridge, make_namespace):
    bridge, ns = make_bridge(), make_namespace()
    dev = port_name()
    ovs.replace_internal_port(bridge, dev, str(uuid.uuid4()), 'fa:16:3e:73:4a:fa', tag=5)
    link.move_to_namespace(dev, ns, up=True)
    link.configure_device(ns, dev, [ipaddress.ip_interface('192.168.11.2/24'),
                                    ipaddress.ip_interface('169.254.169.254/16')],
                          [ipaddress.ip_address('192.168.11.1')])
    assert f'inet 192.168.11.2/24 brd 192.168.11.255 scope global {dev}' in \
        ip('-n', ns, 'addr', 'show', dev)
    assert 'inet 169.254.169.254/16 brd 169.254.255.255' in ip('-n', ns, 'addr', 'show', dev)
    routes = {str(r.dst): r for r in link.observe_routes(ns, 4)}
    assert str(routes['0.0.0.0/0'].gateway) == '192.168.11.1'
    assert '192.168.11.1/32' not in routes              # on-link through the new address
    link.configure_device(ns, dev, [], [ipaddress.ip_address('203.0.113.1')])
    routes = {str(r.dst): r for r in link.observe_routes(ns, 4)}
    assert routes['203.0.113.1/32'].scope == SCOPE_LINK
    assert str(routes['0.0.0.0/0'].gateway) == '203.0.113.1'
    with pytest.raises(DeviceNotFound):
        link.configure_device(ns, 'tapmissing-00', [ipaddress.ip_interface('192.168.12.2/24')])


def test_router_routes(ovs, make_bridge, make_namespace):
    bridge, ns = make_bridge(), make_namespace('qrouter-')
    dev, _ = plug(ovs, bridge, ns, 'fa:16:3e:9d:a8:af', ['198.51.100.10/24'], '198.51.100.1')
    link.add_address(ns, dev, '198.51.100.162/32')
    assert str(link.observe_link(ns, dev).broadcast('198.51.100.162/32')) == '198.51.100.162'

    link.set_default_gateway(ns, dev, '203.0.113.1')      # outside the subnet: on-link first
    routes = {str(r.dst): r for r in link.observe_routes(ns, 4)}
    assert routes['203.0.113.1/32'].scope == SCOPE_LINK
    assert str(routes['0.0.0.0/0'].gateway) == '203.0.113.1'

    link.replace_route(ns, '10.20.0.0/16', nexthops=['198.51.100.5', '198.51.100.6'])
    link.replace_route(ns, '10.30.0.0/16', gateway='198.51.100.7')
    routes = {str(r.dst): r for r in link.observe_routes(ns, 4)}
    assert [str(h.gateway) for h in routes['10.20.0.0/16'].nexthops] == \
        ['198.51.100.5', '198.51.100.6']
    assert str(routes['10.30.0.0/16'].gateway) == '198.51.100.7'
    link.delete_route(ns, '10.20.0.0/16')
    assert '10.20.0.0/16' not in {str(r.dst) for r in link.observe_routes(ns, 4)}

    link.set_mtu(ns, dev, 1450)
    assert link.observe_link(ns, dev).mtu == 1450
    link.set_down(ns, dev)
    assert not link.observe_link(ns, dev).up
    thread = link.send_gratuitous_arp(ns, dev, '198.51.100.10', count=1)
    thread.join(5)
    assert not thread.is_alive()


def test_missing_device_errors_name_it(make_namespace):
    ns = make_namespace()
    with pytest.raises(DeviceNotFound, match=f'tapnothere.*{ns}'):
        link.set_up(ns, 'tapnothere')
    assert link.observe_link(ns, 'tapnothere') is None
    assert link.delete_device(ns, 'tapnothere') is False


def ping(ns, address):
    return subprocess.run(['ip', 'netns', 'exec', ns, 'ping', '-c1', '-W1', address],
                          capture_output=True).returncode == 0


def test_vlan_tags_isolate_on_the_netdev_datapath(ovs, make_bridge, make_namespace):
    bridge = make_bridge()
    ns_a, ns_b = make_namespace(), make_namespace()
    plug(ovs, bridge, ns_a, 'fa:16:3e:00:00:0a', ['10.77.0.2/24'], '10.77.0.1', tag=5)
    dev_b, _ = plug(ovs, bridge, ns_b, 'fa:16:3e:00:00:0b', ['10.77.0.3/24'], '10.77.0.1',
                    tag=5)
    assert ping(ns_a, '10.77.0.3')
    # ovs-vswitchd applies a tag after the OVSDB commit returns: poll for the effect.
    ovs.set_port_tag(dev_b, 6)

    def unreachable():
        subprocess.run(['ip', '-n', ns_a, 'neigh', 'flush', 'all'], check=True)
        return not ping(ns_a, '10.77.0.3')
    assert polling.poll(unreachable, 10, 0.1)
    ovs.set_port_tag(dev_b, 5)
    assert polling.poll(lambda: ping(ns_a, '10.77.0.3'), 10, 0.1)


def test_ipv6_addresses_and_default_route(ovs, make_bridge, make_namespace):
    bridge, ns = make_bridge(), make_namespace('qrouter-')
    dev, _ = plug(ovs, bridge, ns, 'fa:16:3e:00:00:66', ['198.51.100.20/24'], '198.51.100.1')
    netns.set_sysctls(ns, {f'net.ipv6.conf.{dev}.accept_dad': 0})
    link.set_addresses(ns, dev, ['198.51.100.20/24', '2001:db8:5::20/64'])
    link.set_default_gateway(ns, dev, '2001:db8:5::1')
    state = link.observe_link(ns, dev)
    assert ipaddress.ip_interface('2001:db8:5::20/64') in state.addresses
    assert state.broadcast('2001:db8:5::20/64') is None
    routes = {str(r.dst): r for r in link.observe_routes(ns, 6)}
    assert str(routes['::/0'].gateway) == '2001:db8:5::1'
    assert '2001:db8:5::/64' in routes
    assert not any(r.dst.is_link_local for r in routes.values())


def test_namespace_recreated_under_same_name_gets_a_fresh_handle(make_namespace):
    ns = make_namespace()
    first = link.observe_link(ns, 'lo')
    netns.delete(ns)
    netns.create(ns)
    link.set_down(ns, 'lo')
    assert link.observe_link(ns, 'lo').up is False      # the new namespace, not the old one
    assert first.up


def test_many_namespaces_in_parallel(make_namespace):
    from concurrent.futures import ThreadPoolExecutor
    names = [make_namespace() for _ in range(8)]

    def work(ns):
        netns.set_sysctls(ns, {'net.ipv4.ip_forward': 1})
        return [link.observe_link(ns, 'lo').up for _ in range(20)]

    with ThreadPoolExecutor(8) as pool:
        assert all(all(r) for r in pool.map(work, names))
    assert all(netns.sysctl_get(ns, 'net.ipv4.ip_forward') == '1' for ns in names)


def test_observe_device_reads_link_default_routes_and_sysctls_in_one_visit(
        ovs, make_bridge, make_namespace):
    bridge, ns = make_bridge(), make_namespace()
    dev, _ = plug(ovs, bridge, ns, 'fa:16:3e:73:4a:fa', ['192.168.11.2/24'], '192.168.11.1')
    netns.set_sysctls(ns, {'net.ipv4.ip_nonlocal_bind': 1})
    view = link.observe_device(ns, dev, ('net.ipv4.ip_nonlocal_bind',
                                         'net.ipv4.ip_forward', 'net.ipv4.no.such'))
    assert view.link == link.observe_link(ns, dev)
    assert view.default_routes == tuple(r for family in (4, 6)
                                        for r in link.observe_routes(ns, family)
                                        if r.is_default)
    assert [str(r.gateway) for r in view.default_routes] == ['192.168.11.1']
    # the namespace's own values (the host's ip_nonlocal_bind is not set to 1 here)
    assert view.sysctls == (('net.ipv4.ip_nonlocal_bind', '1'),
                            ('net.ipv4.ip_forward', netns.sysctl_get(ns, 'net.ipv4.ip_forward')),
                            ('net.ipv4.no.such', None))
    # a second default route through another device: its name comes from a dump
    subprocess.run(['ip', '-n', ns, 'route', 'add', 'default', 'dev', 'lo', 'metric', '500'],
                   check=True)
    view = link.observe_device(ns, dev, ())
    assert sorted(r.dev for r in view.default_routes) == sorted([dev, 'lo'])
    assert view.default_routes == tuple(r for family in (4, 6)
                                        for r in link.observe_routes(ns, family)
                                        if r.is_default)
    missing = link.observe_device(ns, 'tapnothere', ('net.ipv4.ip_nonlocal_bind',))
    assert missing.link is None and missing.default_routes == ()
    assert missing.sysctls == (('net.ipv4.ip_nonlocal_bind', '1'),)


def test_observe_namespace_reads_devices_routes_and_sysctls_in_one_visit(
        ovs, make_bridge, make_namespace):
    bridge, ns = make_bridge(), make_namespace()
    dev, _ = plug(ovs, bridge, ns, 'fa:16:3e:73:4a:fb', ['192.168.12.2/24'], '192.168.12.1')
    netns.set_sysctls(ns, {'net.ipv4.ip_forward': 1})
    view = link.observe_namespace(ns, (4, 6), ('net.ipv4.ip_forward', 'net.ipv4.no.such'))
    assert view.links == link.list_links(ns)
    assert {d.name for d in view.links} == {'lo', dev}
    assert view.routes == link.observe_routes(ns, 4) + link.observe_routes(ns, 6)
    assert any(r.is_default and r.dev == dev for r in view.routes)
    assert view.sysctls == (('net.ipv4.ip_forward', '1'), ('net.ipv4.no.such', None))
    assert link.observe_namespace(ns, (4,)).routes == link.observe_routes(ns, 4)
