"""Plugging ahead in batches on a thread: a router's reconcile waits only for its
own batch; a failed batch or a stop lets its routers go (they plug for themselves)."""

import logging
import threading
import types

from agent.l3.plug_ahead import PlugAhead


def routers(*ids):
    return [types.SimpleNamespace(id=i) for i in ids]


def test_batches_go_in_order_and_each_router_waits_for_its_own():
    gate = threading.Event()
    plugged = []

    def plug(chunk):
        if chunk[0].id == 'c':
            gate.wait(5)               # the second batch is slow
        plugged.append([r.id for r in chunk])

    ahead = PlugAhead(threading.Event(), chunk=2)
    assert ahead.start(routers('a', 'b', 'c', 'd'), plug)
    ahead.wait('a')                    # the first batch is done: not held by the second
    assert plugged == [['a', 'b']] and ahead.pending() == {'c', 'd'}
    assert not ahead.start(routers('e'), plug)     # one plugging at a time
    gate.set()
    ahead.wait('d')
    assert plugged == [['a', 'b'], ['c', 'd']] and not ahead.pending()


def test_a_failed_batch_lets_its_routers_plug_their_own_ports():
    def plug(chunk):
        raise RuntimeError('ovsdb-server went away')

    ahead = PlugAhead(threading.Event(), chunk=1)
    ahead.start(routers('a', 'b'), plug)
    ahead.wait('b')
    assert not ahead.pending()


def test_a_stop_releases_the_waiting_reconciles():
    stopping = threading.Event()
    release = threading.Event()
    ahead = PlugAhead(stopping, chunk=1)
    ahead.start(routers('a', 'b'), lambda chunk: release.wait(5))
    stopping.set()
    ahead.wait('b')                    # returns although nothing was plugged
    release.set()


def test_nothing_to_plug_starts_nothing():
    ahead = PlugAhead(threading.Event())
    assert ahead.start([], lambda chunk: None) and not ahead.pending()
    ahead.wait('a')


def test_ports_plugged_ahead_are_logged_as_their_plans_would_log_them(caplog):
    """Outside a plan: one record per batch (the OVS driver logs no port)."""
    from agent.dataplane.device import PlugPort
    from agent.drivers.state import PortSpec
    from agent.l3.plug_ahead import plug_first_ports
    specs = {'a': PortSpec('qr-a', 'port-a', 'fa:16:3e:00:00:01', 5),
             'b': PortSpec('qr-b', 'port-b', 'fa:16:3e:00:00:02', 6)}
    plugged = []
    ovs = types.SimpleNamespace(plug_ports=lambda bridge, chunk: plugged.append(chunk))
    with caplog.at_level(logging.DEBUG, logger='agent.l3.plug_ahead'):
        plug_first_ports(routers('a', 'b'), lambda r: [PlugPort('br-int', specs[r.id])],
                         ovs, lambda name: None)
    assert plugged == [list(specs.values())]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert debug == ['bridge br-int: plugging ahead:\n' + '\n'.join(
        PlugPort('br-int', s).describe() for s in specs.values())]
