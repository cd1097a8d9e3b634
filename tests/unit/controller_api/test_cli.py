"""The netnode CLI: argument parsing, name resolution and output, over a fake plugin."""

import io
import json

import pytest

from agent.cli import client as api
from agent.cli import main as cli
from agent.cli import output
from agent.cli.commands import common
from agent.controller.api import create_app
from tests.unit.controller.fakes import FakePlugin


class InProcessClient(api.Client):
    """Sends the CLI's requests to a Flask test client instead of a socket."""

    def __init__(self, test_client, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.test_client = test_client

    def request(self, method, path, body=None, params=None):
        resp = self.test_client.open('/v2.0' + path, method=method, json=body,
                                     query_string=params)
        if resp.status_code >= 400:
            raise api._error_from(resp.status_code, resp.data)
        return resp.get_json() if resp.data else None


@pytest.fixture
def plugin():
    return FakePlugin()


@pytest.fixture
def run(plugin, monkeypatch):
    test_client = create_app(plugin).test_client()
    monkeypatch.setattr(api, 'Client',
                        lambda url, **kw: InProcessClient(test_client, url, **kw))

    def run_cli(*argv):
        out, err = io.StringIO(), io.StringIO()
        code = cli.run(list(argv), stdout=out, stderr=err)
        return code, out.getvalue(), err.getvalue()
    return run_cli


def test_net_create_with_provider_options_sends_wire_names(run, plugin):
    code, out, _ = run('net-create', 'private', '--provider:network_type', 'gre',
                       '--provider:segmentation_id', '1', '--mtu', '1450')
    assert code == 0 and out.startswith('Created a new network:')
    net = list(plugin.rows['network'].values())[0]
    assert net['provider:network_type'] == 'gre'
    assert net['provider:segmentation_id'] == 1 and net['mtu'] == 1450


def test_subnet_create_resolves_network_by_name(run, plugin):
    run('net-create', 'n1')
    code, out, err = run('subnet-create', 'n1', '10.0.0.0/24', '--name', 's1',
                         '--allocation-pool', 'start=10.0.0.10,end=10.0.0.20',
                         '--host-route', 'destination=10.1.0.0/16,nexthop=10.0.0.254',
                         '--disable-dhcp', '--dns_nameservers', 'list=true', '8.8.8.8',
                         '-f', 'json')
    assert code == 0, err
    subnet = json.loads(out)
    assert subnet['network_id'] == list(plugin.rows['network'])[0]
    assert subnet['allocation_pools'] == [{'start': '10.0.0.10', 'end': '10.0.0.20'}]
    assert subnet['host_routes'] == [{'destination': '10.1.0.0/16',
                                      'nexthop': '10.0.0.254'}]
    assert subnet['enable_dhcp'] is False and subnet['ip_version'] == 4
    assert subnet['dns_nameservers'] == ['8.8.8.8']


def test_no_gateway_and_ipv6(run, plugin):
    run('net-create', 'n6')
    code, out, _ = run('subnet-create', 'n6', 'fd00::/64', '--no-gateway',
                       '--ipv6-address-mode', 'slaac', '--ipv6-ra-mode', 'slaac',
                       '-f', 'json')
    subnet = json.loads(out)
    assert subnet['gateway_ip'] is None and subnet['ip_version'] == 6


def test_ambiguous_and_missing_names_fail(run):
    run('net-create', 'dup')
    run('net-create', 'dup')
    code, _, err = run('net-show', 'dup')
    assert code == 1 and 'Multiple network matches' in err
    code, _, err = run('net-show', 'ghost')
    assert code == 1 and "Unable to find network with name or id 'ghost'" in err


def test_api_errors_are_printed_with_their_type(run):
    run('net-create', 'n1')
    code, _, err = run('subnet-create', 'n1', '10.0.0.0/24', '--allocation-pool',
                       'start=10.0.0.1')
    assert code == 1 and '--allocation-pool' in err
    code, _, err = run('port-create', 'n1', '--fixed-ip', 'bogus=1')
    assert code == 1 and "unknown key 'bogus'" in err


def test_router_verbs(run, plugin):
    run('net-create', 'ext', '--router:external')
    run('net-create', 'n1')
    run('subnet-create', 'n1', '10.0.0.0/24', '--name', 's1')
    run('router-create', 'r1')
    code, out, _ = run('router-interface-add', 'r1', 's1')
    assert code == 0 and 'Added interface s1 to router r1.' in out
    code, out, _ = run('router-gateway-set', 'r1', 'ext', '--disable-snat')
    router = list(plugin.rows['router'].values())[0]
    assert router['external_gateway_info'] == {
        'network_id': list(plugin.rows['network'])[0], 'enable_snat': False}
    run('router-update', 'r1', '--route', 'destination=10.2.0.0/16,nexthop=10.0.0.9')
    assert router['routes'] == [{'destination': '10.2.0.0/16', 'nexthop': '10.0.0.9'}]
    run('router-gateway-clear', 'r1')
    assert router['external_gateway_info'] == {}


def test_port_and_floatingip_verbs(run, plugin):
    run('net-create', 'ext', '--router:external')
    run('net-create', 'n1')
    code, out, err = run('port-create', 'n1', '--name', 'p1', '--binding:host_id', 'h1',
                         '--extra-dhcp-opt', 'opt_name=mtu,opt_value=1400', '-f', 'value',
                         '-c', 'id')
    assert code == 0, err
    port_id = out.strip()
    port = plugin.rows['port'][port_id]
    assert port['binding:host_id'] == 'h1'
    assert port['extra_dhcp_opts'] == [{'opt_name': 'mtu', 'opt_value': '1400'}]
    code, out, _ = run('floatingip-create', 'ext', '-f', 'value', '-c', 'id')
    fip_id = out.strip()
    run('floatingip-associate', fip_id, 'p1')
    assert plugin.rows['floatingip'][fip_id]['port_id'] == port_id
    run('floatingip-disassociate', fip_id)
    assert plugin.rows['floatingip'][fip_id]['port_id'] is None
    code, out, _ = run('floatingip-list', '-f', 'value', '-c', 'id')
    assert out.strip() == fip_id


def test_agent_list_shows_alive_as_smiley(run, plugin):
    plugin.rows['agent']['a1'] = {'id': 'a1', 'agent_type': 'DHCP agent', 'host': 'h1',
                                  'alive': True, 'admin_state_up': True,
                                  'binary': 'netnode-dhcp-agent'}
    plugin.rows['agent']['a2'] = {**plugin.rows['agent']['a1'], 'id': 'a2',
                                  'alive': False}
    code, out, _ = run('agent-list')
    assert ':-)' in out and 'xxx' in out and 'netnode-dhcp-agent' in out
    assert out.splitlines()[1].split('|')[1].strip() == 'id'


AGENT_ID = '5f0b4b8e-2f4c-4a43-9d47-6d1c3c0e8a11'


def test_agent_list_json_has_configurations_and_alive_agrees_with_show(run, plugin):
    plugin.rows['agent'][AGENT_ID] = {'id': AGENT_ID, 'agent_type': 'L3 agent', 'host': 'h1',
                                  'alive': False, 'admin_state_up': True,
                                  'binary': 'netnode-l3-agent',
                                  'configurations': {'routers': 3}}
    code, out, _ = run('agent-list', '-f', 'json')
    listed = json.loads(out)[0]
    assert code == 0 and listed['configurations'] == {'routers': 3}
    assert listed['alive'] is False
    _, out, _ = run('agent-show', AGENT_ID, '-f', 'json')
    assert json.loads(out)['alive'] is False
    _, out, _ = run('agent-show', AGENT_ID)
    assert [line for line in out.splitlines() if '| alive' in line][0].split('|')[2].strip() \
        == 'xxx'
    _, out, _ = run('agent-list', '-f', 'value', '-c', 'alive')
    assert out.strip() == 'False'


def test_scheduling_verbs_resolve_names_and_call_the_agent_paths(run, plugin):
    plugin.rows['agent'][AGENT_ID] = {'id': AGENT_ID, 'agent_type': 'DHCP agent'}
    run('net-create', 'n1')
    run('router-create', 'r1')
    net_id = list(plugin.rows['network'])[0]
    router_id = list(plugin.rows['router'])[0]
    for argv, message in (
            (('dhcp-agent-network-add', AGENT_ID, 'n1'), 'Added network n1 to DHCP agent'),
            (('dhcp-agent-network-remove', AGENT_ID, 'n1'),
             'Removed network n1 from DHCP agent'),
            (('l3-agent-router-add', AGENT_ID, 'r1'), 'Added router r1 to L3 agent'),
            (('l3-agent-router-remove', AGENT_ID, 'r1'), 'Removed router r1 from L3 agent')):
        code, out, err = run(*argv)
        assert code == 0 and out.strip() == message, err
    assert plugin.scheduled == [('add_network_to_dhcp_agent', AGENT_ID, net_id),
                                ('remove_network_from_dhcp_agent', AGENT_ID, net_id),
                                ('add_router_to_l3_agent', AGENT_ID, router_id),
                                ('remove_router_from_l3_agent', AGENT_ID, router_id)]
    code, _, err = run('l3-agent-router-add', AGENT_ID, 'nope')
    assert code == 1 and 'nope' in err


def test_table_output_is_aligned_with_multiline_cells():
    text = output.format_list([{'id': 'x', 'ips': ['a', 'bbbb']}], ['id', 'ips'])
    lines = text.splitlines()
    assert lines[1] == '| id | ips  |'
    assert lines[3] == '| x  | a    |' and lines[4] == '|    | bbbb |'
    assert len({len(line) for line in lines}) == 1


def test_unknown_column_is_an_error():
    with pytest.raises(api.CommandError, match='No such column: nope'):
        output.format_list([], ['id'], wanted=['nope'])


def test_parse_kv():
    assert common.parse_kv('start=a,end=b', ('start', 'end'), '--x') == \
        {'start': 'a', 'end': 'b'}
    with pytest.raises(api.CommandError, match='--x'):
        common.parse_kv('start', ('start',), '--x')


def test_connection_refused_is_a_clear_message():
    from agent.controller.wsgi import bind_socket
    sock = bind_socket('127.0.0.1', 0)
    port = sock.getsockname()[1]
    sock.close()                               # nothing listens there now
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(['--url', f'http://127.0.0.1:{port}', 'net-list'], out, err)
    assert code == 1 and 'connection refused' in err.getvalue()


def test_neutron_style_boolean_flags(run, plugin):
    code, _, err = run('net-create', 'public', '--router:external=True')
    assert code == 0, err
    assert list(plugin.rows['network'].values())[0]['router:external'] is True
    run('net-create', 'internal', '--router:external=False', '--shared')
    net = [n for n in plugin.rows['network'].values() if n['name'] == 'internal'][0]
    assert net['router:external'] is False and net['shared'] is True
    code, _, err = run('net-create', 'bad', '--shared=maybe')
    assert code == 2 and '--shared' in err


def test_reference_subnet_create_line(run, plugin):
    run('net-create', 'public', '--router:external=True')
    code, _, err = run('subnet-create', '--ip_version', '4', '--gateway', '198.51.100.1',
                       'public', '198.51.100.0/24', '--allocation-pool',
                       'start=198.51.100.10,end=198.51.100.99', '--disable-dhcp',
                       '--name', 'public-subnet')
    assert code == 0, err
    subnet = list(plugin.rows['subnet'].values())[0]
    assert subnet['gateway_ip'] == '198.51.100.1' and subnet['name'] == 'public-subnet'
