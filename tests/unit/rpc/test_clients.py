import oslo_messaging
import pytest

from agent.rpc import clients
from agent.rpc.codec import WireError
from tests.unit.rpc import payloads as P


class FakeClient:
    """Stands for an oslo RPCClient: records prepare() and call() arguments."""

    def __init__(self, answer):
        self.answer = answer      # callable(method, kwargs) -> result or raises
        self.calls = []

    def prepare(self, **opts):
        outer = self

        class Prepared:
            def call(self, ctxt, method, **kwargs):
                outer.calls.append((opts, ctxt, method, kwargs))
                return outer.answer(method, kwargs)
        return Prepared()


def caller(answer, timeout=60, max_timeout=600):
    client = FakeClient(answer)
    return client, clients.BackingOffCaller(client, timeout, max_timeout,
                                            sleep=lambda s: None)


def dhcp_api(answer):
    api = clients.DhcpPluginApi.__new__(clients.DhcpPluginApi)
    api.host = 'hostA'
    client, api._rpc = caller(answer)
    return client, api


def l3_api(answer):
    api = clients.L3PluginApi.__new__(clients.L3PluginApi)
    api.host = 'hostA'
    api.chunk_size = clients.SYNC_ROUTERS_MAX_CHUNK
    client, api._rpc = caller(answer)
    return client, api


def test_backoff_doubles_timeout_up_to_max():
    def answer(method, kwargs):
        raise oslo_messaging.MessagingTimeout('slow')
    client, rpc = caller(answer, timeout=60, max_timeout=200)
    for _ in range(3):
        with pytest.raises(oslo_messaging.MessagingTimeout):
            rpc.call('m')
    assert [c[0]['timeout'] for c in client.calls] == [60, 120, 200]
    assert rpc.timeout_for('other') == 60


def test_admin_context_is_sent():
    client, rpc = caller(lambda m, k: 'ok')
    rpc.call('m', '1.1', a=1)
    opts, ctxt, method, kwargs = client.calls[0]
    assert opts['version'] == '1.1' and kwargs == {'a': 1}
    assert ctxt['is_admin'] is True and ctxt['user_id'] is None
    assert ctxt['request_id'].startswith('req-')
    assert set(ctxt['roles']) == {'admin', 'member', 'reader'}


def test_dhcp_calls_use_neutron_versions_and_kwargs():
    answers = {'get_active_networks_info': [P.NETWORK_INFO],
               'get_network_info': P.NETWORK_INFO, 'create_dhcp_port': P.DHCP_PORT_DICT,
               'get_dhcp_port': P.DHCP_PORT_DICT}
    client, api = dhcp_api(lambda m, k: answers.get(m))
    nets = api.get_active_networks_info()
    assert nets[0].id == P.NET
    assert api.get_network_info(P.NET).subnets[0].id == P.SUBNET
    port = api.create_dhcp_port({'network_id': P.NET, 'device_id': 'd'})
    assert port.id == P.DHCP_PORT
    assert api.update_dhcp_port(P.DHCP_PORT, {'network_id': P.NET}) is None
    api.release_dhcp_port(P.NET, 'd')
    assert api.get_dhcp_port(P.DHCP_PORT).device_owner == 'network:dhcp'
    api.dhcp_ready_on_ports({P.PORT})
    sent = [(c[2], c[0]['version'], c[3]) for c in client.calls]
    assert sent == [
        ('get_active_networks_info', '1.1', {'host': 'hostA',
                                             'enable_dhcp_filter': False}),
        ('get_network_info', '1.0', {'network_id': P.NET, 'host': 'hostA'}),
        ('create_dhcp_port', '1.1', {'port': {'port': {'network_id': P.NET,
                                                       'device_id': 'd'}},
                                     'host': 'hostA'}),
        ('update_dhcp_port', '1.1', {'port_id': P.DHCP_PORT,
                                     'port': {'port': {'network_id': P.NET}},
                                     'host': 'hostA'}),
        ('release_dhcp_port', '1.0', {'network_id': P.NET, 'device_id': 'd',
                                      'host': 'hostA'}),
        ('get_dhcp_port', '1.8', {'port_id': P.DHCP_PORT}),
        ('dhcp_ready_on_ports', '1.5', {'port_ids': [P.PORT]}),
    ]


def test_malformed_reply_raises_wire_error():
    _, api = dhcp_api(lambda m, k: {'id': 'x'})
    with pytest.raises(WireError, match='network x: field id'):
        api.get_network_info(P.NET)


def test_l3_calls():
    answers = {'get_router_ids': [P.ROUTER], 'sync_routers': [P.ROUTER_DICT]}
    client, api = l3_api(lambda m, k: answers.get(m))
    assert api.get_router_ids() == [P.ROUTER]
    assert api.sync_routers([P.ROUTER])[0].id == P.ROUTER
    api.update_floatingip_statuses(P.ROUTER, {P.FIP: 'ACTIVE'})
    sent = [(c[2], c[0]['version'], c[3]) for c in client.calls]
    assert sent == [
        ('get_router_ids', '1.9', {'host': 'hostA'}),
        ('sync_routers', '1.0', {'host': 'hostA', 'router_ids': [P.ROUTER]}),
        ('update_floatingip_statuses', '1.1', {'router_id': P.ROUTER,
                                               'fip_statuses': {P.FIP: 'ACTIVE'}}),
    ]


def test_sync_routers_chunked_halves_on_timeout_and_grows_back():
    sizes = []

    def answer(method, kwargs):
        ids = kwargs['router_ids']
        sizes.append(len(ids))
        if len(ids) > 64:
            raise oslo_messaging.MessagingTimeout()
        return []
    _, api = l3_api(answer)
    api.sync_routers_chunked([P.ROUTER] * 300)
    assert sizes[:3] == [256, 128, 64]
    assert sum(s for s in sizes if s <= 64) == 300      # every id fetched once
    assert api.chunk_size >= 64


def test_sync_routers_chunked_gives_up_at_minimum():
    def answer(method, kwargs):
        raise oslo_messaging.MessagingTimeout()
    _, api = l3_api(answer)
    with pytest.raises(oslo_messaging.MessagingTimeout):
        api.sync_routers_chunked([P.ROUTER] * 40)
    assert api.chunk_size == clients.SYNC_ROUTERS_MIN_CHUNK


def test_report_state_nests_agent_state_and_sends_utc_time():
    api = clients.ReportStateApi.__new__(clients.ReportStateApi)
    api.timeout = 30
    api._client = FakeClient(lambda m, k: 'new')
    assert api.report_state({'host': 'hostA'}) == 'new'
    opts, ctxt, method, kwargs = api._client.calls[0]
    assert method == 'report_state' and opts['timeout'] == 30
    state = kwargs['agent_state']['agent_state']
    assert state['host'] == 'hostA' and len(state['uuid']) == 36
    import datetime
    datetime.datetime.strptime(kwargs['time'], clients.TIME_FORMAT)
