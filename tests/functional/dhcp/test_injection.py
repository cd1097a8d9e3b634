"""dnsmasq configuration injection (issue 10 item 1) against a real agent and dnsmasq.

One network with a probe ("the other VM") that holds a lease; then the payloads
that once added lines to the network's ``opts`` and ``host`` files go in through
the REST API, through a crafted RPC notification to the agent and through a
crafted answer (a port row the API would refuse, as another controller may
send).  Each is refused; the files hold no injected line and the probe keeps its
address, router and DNS servers.
"""

import os

import pytest

from agent.common import dhcp_fields
from tests.functional.dhcp import clients
from tests.functional.dhcp.stack import DhcpStack, dnsmasq_pid, port_ip, wait_for
from tests.functional.helpers import foreign_rows

pytestmark = pytest.mark.functional

CIDR, GATEWAY, DNS = '10.81.0.0/24', '10.81.0.1', ('192.0.2.53',)
EVIL = '6.6.6.6'


@pytest.fixture(scope='module')
def stack(run_id, leaks):
    s = DhcpStack(run_id, 'inject', leaks).start()
    yield s
    s.close()


@pytest.fixture(scope='module')
def net(stack):
    network, subnet = stack.create_network('inject-net', CIDR, GATEWAY, DNS)
    wait_for(lambda: dnsmasq_pid(stack, network['id']), 15, 0.02, 'dnsmasq serving')
    probe = stack.probe_create(network['id'], name='victim')
    lease = wait_for(lambda: clients.udhcpc(probe['namespace'], probe['device']), 30, 0.2,
                     'the victim lease')
    other = stack.api('POST', '/ports', {'port': {
        'network_id': network['id'], 'name': 'other',
        'extra_dhcp_opts': [{'opt_name': 'mtu', 'opt_value': '1400'}]}})['port']
    return {'net': network, 'subnet': subnet, 'probe': probe, 'lease': lease,
            'other': other}


def payloads(net):
    """(extra_dhcp_opts, the field the refusal names) of the issue's attacks."""
    subnet_tag = f'tag:subnet-{net["subnet"]["id"]}'
    mac = net['probe']['mac_address']
    return [
        ([{'opt_name': 'mtu', 'opt_value': f'x\n{subnet_tag},option:dns-server,{EVIL}'}],
         'extra_dhcp_opts[0].opt_value'),
        ([{'opt_name': 'mtu', 'opt_value': f'x\n{subnet_tag},option:router,{EVIL}'}],
         'extra_dhcp_opts[0].opt_value'),
        ([{'opt_name': 'client-id', 'opt_value': f'x\n{mac},host-evil,10.81.0.99'}],
         'extra_dhcp_opts[0].opt_value'),
        ([{'opt_name': 'client-id', 'opt_value': '01:aa,host-evil'}],
         'extra_dhcp_opts[0].opt_value'),
        ([{'opt_name': f'router\ndhcp-option=3,{EVIL}', 'opt_value': '1'}],
         'extra_dhcp_opts[0].opt_name'),
        ([{'opt_name': {'a': 1}, 'opt_value': '1'}], 'extra_dhcp_opts[0].opt_name'),
        ([{'opt_name': 'mtu', 'opt_value': ['1']}], 'extra_dhcp_opts[0].opt_value'),
        ([{'opt_name': 'mtu', 'opt_value': 'a\x00b'}], 'extra_dhcp_opts[0].opt_value'),
    ]


def files(stack, net_id):
    base = os.path.join(stack.state_path, 'dhcp', net_id)
    return {name: open(os.path.join(base, name)).read()
            for name in ('host', 'opts', 'addn_hosts')}


def assert_clean_and_victim_served(stack, net):
    for name, text in files(stack, net['net']['id']).items():
        assert EVIL not in text and 'host-evil' not in text, (name, text)
        assert '\x00' not in text
        assert all(dhcp_fields.safe_line(line) for line in text.splitlines()), name
    probe = net['probe']
    lease = clients.udhcpc(probe['namespace'], probe['device'])
    assert lease['ip'] == port_ip(probe) == net['lease']['ip']
    assert lease['router'] == GATEWAY and lease['dns'] == net['lease']['dns']
    assert EVIL not in lease['dns'] and EVIL not in lease['router']


def test_injection_through_the_api_is_refused(stack, net):
    other_id = net['other']['id']
    for opts, field in payloads(net):
        status, doc = stack.server.call('POST', '/v2.0/ports', {'port': {
            'network_id': net['net']['id'], 'extra_dhcp_opts': opts}})
        error = doc['NeutronError']
        assert status == 400 and error['type'] == 'InvalidInput', doc
        assert field in error['message'] and 'Invalid input for port' in error['message']
        status, doc = stack.server.call('PUT', f'/v2.0/ports/{other_id}',
                                        {'port': {'extra_dhcp_opts': opts}})
        assert status == 400, doc
        assert field in doc['NeutronError']['message']
    assert stack.api('GET', f'/ports/{other_id}')['port']['extra_dhcp_opts'] == [
        {'opt_name': 'mtu', 'opt_value': '1400', 'ip_version': 4}]
    assert_clean_and_victim_served(stack, net)


def test_injection_in_a_notification_is_dropped(stack, net):
    from agent.rpc.transport import admin_context, get_transport, make_rpc_client
    from tests.functional.helpers.bus import bus_conf
    pid = dnsmasq_pid(stack, net['net']['id'])
    transport = get_transport(bus_conf(stack.url, stack.exchange, f'{stack.host}-evil'))
    sent = payloads(net)
    try:
        client = make_rpc_client(transport, 'dhcp_agent').prepare(server=stack.host)
        for opts, _field in sent:
            port = dict(stack.api('GET', f'/ports/{net["other"]["id"]}')['port'],
                        extra_dhcp_opts=opts)
            client.cast(admin_context(), 'port_update_end', payload={'port': port})
        wait_for(lambda: stack.agent_log_text().count(
            'dropped malformed port_update_end') >= len(sent), 15, 0.05,
            'every crafted notification dropped')
    finally:
        transport.cleanup()
    log = stack.agent_log_text()
    assert 'payload.port.extra_dhcp_opts[0].opt_value' in log
    assert 'payload.port.extra_dhcp_opts[0].opt_name' in log
    assert dnsmasq_pid(stack, net['net']['id']) == pid
    assert_clean_and_victim_served(stack, net)


def test_injection_in_an_answer_leaves_the_port_out(stack, net):
    """A port row as a lax controller would send it: get_network_info carries it; the
    codec leaves that port out (an ERROR naming it and the field) and the network
    stays served."""
    mac = net['probe']['mac_address']
    subnet_tag = f'tag:subnet-{net["subnet"]["id"]}'
    victim = stack.api('POST', '/ports', {'port': {'network_id': net['net']['id'],
                                                   'name': 'lax'}})['port']
    foreign_rows.set_extra_dhcp_opts(stack.server, victim['id'], [
        {'opt_name': 'client-id', 'opt_value': f'x\n{mac},host-evil,10.81.0.99',
         'ip_version': 4},
        {'opt_name': 'mtu', 'opt_value': f'x\n{subnet_tag},option:router,{EVIL}',
         'ip_version': 4}])
    # Any change makes the agent fetch the network again (and so the lax row).
    stack.api('PUT', f'/subnets/{net["subnet"]["id"]}', {'subnet': {'name': 'refetch'}})
    wait_for(lambda: f'Refusing port {victim["id"]}' in stack.agent_log_text(), 15, 0.05,
             'the lax port refused')
    assert 'extra_dhcp_opts[0].opt_value' in stack.agent_log_text()
    assert_clean_and_victim_served(stack, net)
    foreign_rows.set_extra_dhcp_opts(stack.server, victim['id'], [])
    stack.api('DELETE', f'/ports/{victim["id"]}')
