"""The port lookup (Neutron's filters), its cache, and the agent's answers."""

import uuid

import pytest

from agent.metadata import agent as md_agent
from agent.metadata.lookup import ControllerUnavailable, InstanceLookup, TtlCache
from agent.metadata.server import Caller
from agent.rpc.codec import ports_from_wire

ROUTER = '11111111-2222-4333-8444-555555555555'
NET_A = 'aaaaaaaa-0000-4000-8000-000000000001'
NET_B = 'aaaaaaaa-0000-4000-8000-000000000002'


def wire_port(name, net, ip, device='', owner='compute:nova'):
    """A port dict as get_ports answers; ``name`` picks its id."""
    return {'id': str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), 'network_id': net,
            'mac_address': 'fa:16:3e:00:00:01', 'device_id': device,
            'device_owner': owner, 'project_id': 'p1',
            'fixed_ips': [{'subnet_id': net[:-1] + 'f', 'ip_address': ip}]}


class FakeApi:
    """Answers get_ports as the controller filters; records the calls."""

    def __init__(self, ports, down=False):
        self.ports = ports
        self.down = down
        self.calls = []

    def get_ports(self, filters):
        self.calls.append(('get_ports', filters))
        if self.down:
            raise ControllerUnavailable('no answer')
        found = []
        for p in self.ports:
            if 'network_id' in filters and p['network_id'] not in filters['network_id']:
                continue
            if 'device_id' in filters and p['device_id'] not in filters['device_id']:
                continue
            if 'device_owner' in filters and p['device_owner'] not in filters['device_owner']:
                continue
            if 'mac_address' in filters and p['mac_address'] not in filters['mac_address']:
                continue
            ips = filters.get('fixed_ips', {}).get('ip_address')
            if ips and not any(i['ip_address'] in ips for i in p['fixed_ips']):
                continue
            found.append(p)
        return ports_from_wire(found)

    def get_instance_metadata(self, device_id):
        self.calls.append(('get_instance_metadata', device_id))
        return {'device_id': device_id, 'instance': {'name': device_id},
                'ports': [p for p in self.ports if p['device_id'] == device_id],
                'networks': {}, 'subnets': [], 'floating_ips': []}


PORTS = [
    wire_port('p-a', NET_A, '10.0.0.5', 'vm-a'),
    wire_port('p-b', NET_B, '10.0.0.5', 'vm-b'),
    wire_port('p-dhcp', NET_A, '10.0.0.2', 'dhcp-x', 'network:dhcp'),
    wire_port('p-rtr', NET_A, '10.0.0.1', ROUTER, 'network:router_interface'),
    wire_port('p-nodev', NET_A, '10.0.0.7', ''),
]


def test_network_and_router_lookups():
    lookup = InstanceLookup(FakeApi(PORTS), cache_ttl=0)
    assert lookup.view('10.0.0.5', network_id=NET_A).instance.device_id == 'vm-a'
    assert lookup.view('10.0.0.5', network_id=NET_B).instance.device_id == 'vm-b'
    assert lookup.view('10.0.0.5', router_id=ROUTER).instance.device_id == 'vm-a'
    assert lookup.api.calls[-3] == ('get_ports', {
        'device_id': [ROUTER], 'device_owner': ['network:router_interface',
                                                'network:ha_router_replicated_interface',
                                                'network:router_interface_distributed']})
    assert lookup.api.calls[-2] == ('get_ports', {
        'network_id': [NET_A], 'fixed_ips': {'ip_address': ['10.0.0.5']}})


def test_network_owned_ports_and_unknown_addresses_get_nothing():
    lookup = InstanceLookup(FakeApi(PORTS), cache_ttl=0)
    assert lookup.view('10.0.0.2', network_id=NET_A) is None      # DHCP port
    assert lookup.view('10.0.0.1', network_id=NET_A) is None      # router port
    assert lookup.view('10.0.0.7', network_id=NET_A) is None      # no device
    assert lookup.view('10.0.0.9', network_id=NET_A) is None
    assert lookup.view('10.0.0.5', router_id='99999999-2222-4333-8444-555555555555') \
        is None


def test_ambiguous_address_on_the_router_networks_gets_nothing():
    ports = PORTS + [wire_port('p-rtr-b', NET_B, '10.0.0.1', ROUTER,
                               'network:router_interface')]
    lookup = InstanceLookup(FakeApi(ports), cache_ttl=0)
    assert lookup.view('10.0.0.5', router_id=ROUTER) is None


def test_ipv6_link_local_source_is_found_by_its_mac():
    from agent.metadata.lookup import mac_from_eui64
    assert mac_from_eui64('fe80::f816:3eff:fe00:1') == 'fa:16:3e:00:00:01'
    assert mac_from_eui64('fe80::1') is None
    assert mac_from_eui64('2001:db8::f816:3eff:fe00:1') is None
    assert mac_from_eui64('10.0.0.5') is None
    lookup = InstanceLookup(FakeApi(PORTS[:1]), cache_ttl=0)
    view = lookup.view('fe80::f816:3eff:fe00:1', network_id=NET_A)
    assert view.instance.device_id == 'vm-a' and view.local_ipv4 == '10.0.0.5'
    assert lookup.api.calls[0] == ('get_ports', {'network_id': [NET_A],
                                                 'mac_address': ['fa:16:3e:00:00:01']})


def test_cache_ttl():
    now = [100.0]
    api = FakeApi(PORTS)
    lookup = InstanceLookup(api, cache_ttl=5, clock=lambda: now[0])
    for _ in range(3):
        lookup.view('10.0.0.5', network_id=NET_A)
    assert len(api.calls) == 2
    now[0] += 5.1
    lookup.view('10.0.0.5', network_id=NET_A)
    assert len(api.calls) == 4


def test_failures_are_not_cached():
    cache = TtlCache(10)
    with pytest.raises(ControllerUnavailable):
        cache.get_or_load('k', lambda: (_ for _ in ()).throw(ControllerUnavailable('x')))
    assert cache.get_or_load('k', lambda: 1) == 1


class FakeLookup:
    def __init__(self, result=None, error=None):
        self.result, self.error = result, error

    def view(self, remote_ip, network_id=None, router_id=None):
        if self.error:
            raise self.error
        return self.result


def bare_agent(lookup):
    import threading
    agent = md_agent.MetadataAgent.__new__(md_agent.MetadataAgent)
    agent.lookup = lookup
    agent.nova = None
    agent.counts = {}
    agent._lock = threading.Lock()
    return agent


def test_agent_answers():
    from tests.unit.metadata.views import DEVICE, view
    caller = Caller('10.0.0.5', NET_A)
    agent = bare_agent(FakeLookup(view()))
    doc = agent.answer('GET', '/openstack/latest/meta_data.json', caller, None)
    assert doc.status == 200 and DEVICE.encode() in doc.body
    assert agent.answer('POST', '/openstack/latest/password', caller, b'x').status == 405
    assert bare_agent(FakeLookup(None)).answer('GET', '/', caller, None).status == 404
    down = bare_agent(FakeLookup(error=ControllerUnavailable('timeout')))
    assert down.answer('GET', '/', caller, None).status == 503
    assert agent.counts == {'ok': 1, 'other': 1} and down.counts == {'unavailable': 1}


class Conf:
    def __init__(self, mode, user='', group=''):
        self.metadata_proxy_socket_mode = mode
        self.metadata_proxy_user = user
        self.metadata_proxy_group = group


def test_socket_mode():
    """Neutron's modes made safe: deduce never opens the socket to every user."""
    assert md_agent.socket_mode(Conf('all')) == 0o666
    assert md_agent.socket_mode(Conf('group')) == 0o660
    assert md_agent.socket_mode(Conf('user')) == 0o600
    assert md_agent.socket_mode(Conf('deduce')) == 0o600
    assert md_agent.socket_mode(Conf('deduce', 'root')) == 0o600
    assert md_agent.socket_mode(Conf('deduce', '54321', '54321')) == 0o660
    assert md_agent.socket_mode(Conf('deduce', 'nobody', '')) == 0o660


def test_socket_group():
    """In group mode the socket belongs to the proxies' group (when not ours)."""
    assert md_agent.socket_group(Conf('deduce')) is None
    assert md_agent.socket_group(Conf('deduce', '54321', '54321')) == 54321
    assert md_agent.socket_group(Conf('deduce', 'nobody', '')) is None
    assert md_agent.socket_group(Conf('user', 'nobody', '54321')) is None
    with pytest.raises(ValueError, match='metadata_proxy_group .no-such-grp. does not exist'):
        md_agent.socket_group(Conf('group', 'nobody', 'no-such-grp'))


def test_nova_backend_asks_only_get_ports(monkeypatch):
    """Against a real neutron-server: no get_instance_metadata (not Neutron's)."""
    from agent.metadata import nova
    api = FakeApi(PORTS)
    agent = bare_agent(InstanceLookup(api, cache_ttl=0))
    agent.nova = nova.NovaEndpoint('127.0.0.1', 8775, secret='s')
    sent = []
    monkeypatch.setattr(nova, 'forward', lambda *a: sent.append(a) or
                        md_agent.Document(200, 'application/json', b'{}'))
    caller = Caller('10.0.0.5', NET_A)
    assert agent.answer('GET', '/openstack/latest/meta_data.json', caller, None).status \
        == 200
    assert [c[0] for c in api.calls] == ['get_ports']
    assert sent[0][1:] == ('GET', '/openstack/latest/meta_data.json', None, '10.0.0.5',
                           'vm-a', 'p1')
    assert agent.answer('POST', '/openstack/latest/password', caller, b'pw').status == 200
    assert agent.answer('GET', '/', Caller('10.0.0.99', NET_A), None).status == 404
