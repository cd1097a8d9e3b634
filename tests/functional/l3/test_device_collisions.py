"""Device-name collisions (issue 10 item 2) against a real L3 agent, OVS and namespaces.

Device names are a prefix and the first 11 characters of a port id.  The API
refuses a port id that would share another port's names (409); a port from
another controller can still collide, so the agent checks too: router 2's
interface whose qr- name is router 1's is refused with an ERROR naming both
ports, and router 1's qr- device stays in router 1's namespace (its VMs keep
their gateway) however often router 2 is reconciled.
"""

import time

import pytest

from agent.common import names
from tests.functional.helpers import foreign_rows
from tests.functional.helpers.host import in_ns, netns_list, wait_for
from tests.functional.l3.stack import L3Stack

pytestmark = pytest.mark.functional


@pytest.fixture(scope='module')
def stack(run_id, leaks):
    s = L3Stack(run_id, 'kollide', leaks, resync_interval=2, workers=2).start()
    yield s
    s.close()


def _link(ns, dev):
    """``ip -o link`` line of ``dev`` in ``ns`` ('' if it is not there)."""
    if ns not in netns_list():
        return ''
    return in_ns(ns, 'ip', '-o', 'link', 'show', 'dev', dev, check=False).stdout


def _has_address(ns, dev, cidr):
    return cidr in in_ns(ns, 'ip', '-o', 'addr', 'show', 'dev', dev, check=False).stdout


def test_second_router_cannot_take_the_first_routers_qr_device(stack):
    net1, sub1 = stack.network('kol-net1', '10.61.0.0/24', '10.61.0.1')
    router1 = stack.router('kol-router1')
    port1 = stack.add_interface(router1['id'], sub1['id'])['port_id']
    ns1, qr = names.router_namespace(router1['id']), names.internal_device_name(port1)
    wait_for(lambda: _has_address(ns1, qr, '10.61.0.1/24'), 30, 0.05, 'router 1 served')
    vm_ns, _port, _ip = stack.vm(net1['id'], sub1, 'kol-vm')
    assert stack.ping(vm_ns, '10.61.0.1')
    index = _link(ns1, qr).split(':')[0]

    net2, sub2 = stack.network('kol-net2', '10.62.0.0/24', '10.62.0.1')
    router2 = stack.router('kol-router2')
    ns2 = names.router_namespace(router2['id'])
    colliding = foreign_rows.colliding_id(port1)
    gateway2 = {'network_id': net2['id'],
                'fixed_ips': [{'subnet_id': sub2['id'], 'ip_address': '10.62.0.1'}]}
    # Through the API: refused.
    status, doc = stack.server.call('POST', '/v2.0/ports',
                                    {'port': dict(gateway2, id=colliding)})
    assert status == 409 and doc['NeutronError']['type'] == 'DeviceNameInUse', doc
    # As another controller would have it: the row exists, router 2 gets it.
    port2 = stack.api('POST', '/ports', {'port': gateway2})['port']['id']
    foreign_rows.rename_port(stack.server, port2, colliding)
    stack.api('PUT', f'/routers/{router2["id"]}/add_router_interface',
              {'port_id': colliding})
    wait_for(lambda: f'port {colliding} refused' in stack.agent_log_text(), 30, 0.05,
             'router 2 refusing the colliding port')
    refusal = next(line for line in stack.agent_log_text().splitlines()
                   if f'port {colliding} refused' in line)
    assert 'ERROR' in refusal and port1 in refusal and qr in refusal
    wait_for(lambda: ns2 in netns_list(), 30, 0.05, 'router 2 namespace')
    # Several resyncs later nothing moved or flapped.
    time.sleep(5)
    assert _link(ns1, qr).split(':')[0] == index
    assert _has_address(ns1, qr, '10.61.0.1/24')
    assert _link(ns2, qr) == ''
    assert stack.ovs.list_ports(stack.int_bridge) and [
        p.iface_id for p in stack.ovs.list_ports(stack.int_bridge) if p.name == qr] == [port1]
    assert stack.ping(vm_ns, '10.61.0.1')
    assert 'in sync' in stack.agent_log_text() and stack.agent.poll() is None
