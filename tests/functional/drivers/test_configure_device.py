"""link.configure_device (addresses, default route and the first ARP in one visit to
the namespace's worker) and link.has_device, on real namespaces."""

import errno
import ipaddress
import subprocess
import threading
import time

import pytest

from agent.drivers import garp, link, netns, rtnl_requests
from agent.drivers.netlink_api import NetlinkError
from agent.drivers.state import DeviceNotFound
from tests.functional.drivers.test_garp import _receive_arp


def _veth(sender, peer, dev, peer_dev):
    subprocess.run(['ip', 'link', 'add', dev, 'netns', sender, 'type', 'veth',
                    'peer', 'name', peer_dev, 'netns', peer], check=True)
    for ns, name in ((sender, dev), (peer, peer_dev)):
        subprocess.run(['ip', '-n', ns, 'link', 'set', name, 'up'], check=True)


def test_configure_device_adds_addresses_the_default_route_and_announces(make_namespace):
    sender, peer = make_namespace('qrouter-'), make_namespace('qrouter-')
    _veth(sender, peer, 'qg-conf-test', 'peer-conf')
    listener = []
    thread = threading.Thread(target=lambda: listener.append(
        netns.run_in(peer, _receive_arp, None, 'peer-conf', 10)))
    thread.start()
    time.sleep(0.3)     # the listener bound (and a repeat 2 s later if not)
    link.configure_device(sender, 'qg-conf-test',
                          ['198.51.100.5/24', '198.51.100.77/32'], ['198.51.100.1'],
                          ['198.51.100.77'], count=2)
    thread.join(15)
    state = link.observe_link(sender, 'qg-conf-test')
    assert {str(a) for a in state.addresses} == {'198.51.100.5/24', '198.51.100.77/32'}
    assert state.broadcast(ipaddress.ip_interface('198.51.100.5/24')) == \
        ipaddress.ip_address('198.51.100.255')
    default = [r for r in link.observe_routes(sender) if r.is_default]
    assert [(str(r.gateway), r.dev) for r in default] == [('198.51.100.1', 'qg-conf-test')]
    assert len(listener) == 1 and listener[0][28:32] == \
        ipaddress.IPv4Address('198.51.100.77').packed


def test_a_gateway_outside_the_devices_subnets_gets_an_on_link_route(make_namespace):
    sender, peer = make_namespace('qrouter-'), make_namespace('qrouter-')
    _veth(sender, peer, 'qg-conf-out', 'peer-out')
    link.configure_device(sender, 'qg-conf-out', ['198.51.100.5/24'], ['203.0.113.1'])
    routes = {str(r.dst): r for r in link.observe_routes(sender)}
    assert routes['203.0.113.1/32'].dev == 'qg-conf-out' and routes['203.0.113.1/32'].scope == 253
    assert str(routes['0.0.0.0/0'].gateway) == '203.0.113.1'


def test_has_device(make_namespace):
    ns = make_namespace('qrouter-')
    assert link.has_device(ns, 'lo') and link.has_device(None, 'lo')
    assert not link.has_device(ns, 'qr-nothere') and not link.has_device(None, 'qr-nothere')


def test_a_failed_first_announcement_is_logged_not_raised(make_namespace, caplog):
    ns = make_namespace('qrouter-')
    subprocess.run(['ip', '-n', ns, 'link', 'add', 'qg-noarp', 'type', 'veth', 'peer',
                    'name', 'peer-noarp'], check=True)        # both down: sendto fails
    link.configure_device(ns, 'qg-noarp', ['198.51.100.9/24'], (), ['198.51.100.9'])
    assert 'gratuitous ARP for 198.51.100.9 failed' in caplog.text
    assert garp.ANNOUNCER is not None


def test_a_hand_packed_move_sets_mac_mtu_and_up_in_the_namespace(make_namespace, run_id):
    ns = make_namespace('qrouter-')
    dev, peer = f'qr-{run_id}'[:14], f'pe-{run_id}'[:14]
    subprocess.run(['ip', 'link', 'add', dev, 'type', 'veth', 'peer', 'name', peer],
                   check=True)
    try:
        link.move_to_namespace(dev, ns, mac='fa:16:3e:12:34:56', mtu=1450, up=True)
        state = link.observe_link(ns, dev)
        assert (state.mac, state.mtu, state.up) == ('fa:16:3e:12:34:56', 1450, True)
        assert not link.has_device(None, dev)
        with pytest.raises(DeviceNotFound):
            link.move_to_namespace(dev, ns)         # not in the root namespace any more
    finally:
        subprocess.run(['ip', 'link', 'del', peer], check=False)


def test_hand_packed_requests_raise_the_kernels_errno(make_namespace):
    ns = make_namespace('qrouter-')

    def twice(_ipr):
        addr = ipaddress.ip_interface('198.51.100.3/24')
        rtnl_requests.add_address(1, addr)
        with pytest.raises(NetlinkError) as exc:
            rtnl_requests.add_address(1, addr)
        return exc.value.code
    assert netns.call_netlink(ns, twice) == errno.EEXIST
