import threading

from agent.rpc import transport


def test_bus_health_reports_only_recoveries_after_a_working_bus():
    calls = []
    health = transport.BusHealth()
    health.add_reconnect_listener(lambda: calls.append(1))
    health.failed()
    assert health.succeeded() is False          # never worked before: start-up
    assert health.succeeded() is False          # no outage
    health.failed()
    assert health.down
    assert health.succeeded() is True and calls == [1]
    assert not health.down


class FakeRabbitConnection:
    def __init__(self):
        self.channel = object()

    def _set_current_channel(self, channel):
        self.channel = channel


class FakeServer:
    def __init__(self, conn):
        pool_context = type('Ctx', (), {'connection': conn})()
        listener = type('L', (), {'conn': pool_context})()
        self.listener = type('A', (), {'_poll_style_listener': listener})()


def test_watch_reconnects_calls_back_on_a_new_channel_only():
    conn = FakeRabbitConnection()
    calls = []
    assert transport.watch_reconnects(FakeServer(conn), lambda: calls.append(1))
    same = conn.channel
    conn._set_current_channel(same)             # every ensure() does this
    assert calls == []
    conn._set_current_channel(None)             # connection lost
    conn._set_current_channel(object())         # kombu revived it
    assert calls == [1]
    conn._set_current_channel(object())
    assert calls == [1, 1]


def test_watch_reconnects_refuses_unknown_drivers():
    assert transport.watch_reconnects(object(), lambda: None) is False


def test_stop_rpc_servers_stops_all_in_parallel():
    both_stopping = threading.Barrier(2, timeout=2)   # broken if stopped in turn
    stopped = []

    class SlowServer:
        def stop(self):
            both_stopping.wait()
            stopped.append(self)

        def wait(self):
            pass
    transport.stop_rpc_servers([SlowServer(), SlowServer()], 5)
    assert len(stopped) == 2


def test_admin_context_matches_neutron_agents():
    ctxt = transport.admin_context()
    assert ctxt['is_admin'] is True and ctxt['project_id'] is None
    assert ctxt['user_id'] is None and ctxt['has_global_access'] is True
    assert ctxt['request_id'].startswith('req-')
    assert transport.admin_context()['request_id'] != ctxt['request_id']


def test_declared_methods_policy_without_declaration():
    class Endpoint:
        target = None

        def visible(self):
            pass

        def _hidden(self):
            pass
    policy = transport.DeclaredMethodsPolicy()
    assert policy.is_allowed(Endpoint(), 'visible')
    assert not policy.is_allowed(Endpoint(), '_hidden')
    assert not policy.is_allowed(Endpoint(), 'target')
    assert not policy.is_allowed(Endpoint(), 'missing')
