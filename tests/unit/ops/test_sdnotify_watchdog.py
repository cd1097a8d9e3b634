"""sd_notify over a real unix datagram socket bound here, and the watchdog's
decision to ping or withhold."""

import os
import socket

import pytest

from agent.ops import sdnotify, watchdog


@pytest.fixture
def listener(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / 'notify'))
    sock.settimeout(2)
    yield sock
    sock.close()


def test_messages_reach_the_socket(listener):
    notifier = sdnotify.Notifier({'NOTIFY_SOCKET': listener.getsockname()})
    assert notifier.enabled
    assert notifier.ready('DHCP agent started')
    assert listener.recv(4096) == b'READY=1\nSTATUS=DHCP agent started'
    assert notifier.stopping()
    assert listener.recv(4096) == b'STOPPING=1'


def test_abstract_socket():
    name = f'netnode-test-{os.getpid()}'
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind('\0' + name)
        sock.settimeout(2)
        assert sdnotify.Notifier({'NOTIFY_SOCKET': '@' + name}).send(sdnotify.WATCHDOG)
        assert sock.recv(64) == b'WATCHDOG=1'


@pytest.mark.parametrize('environ', [{}, {'NOTIFY_SOCKET': ''},
                                     {'NOTIFY_SOCKET': 'vsock:2:1234'}])
def test_without_a_socket_nothing_is_sent(environ):
    notifier = sdnotify.Notifier(environ)
    assert not notifier.enabled and not notifier.ready()


def test_a_gone_socket_neither_raises_nor_blocks(tmp_path):
    notifier = sdnotify.Notifier({'NOTIFY_SOCKET': str(tmp_path / 'absent')})
    assert notifier.send(sdnotify.WATCHDOG) is False


@pytest.mark.parametrize('environ,interval', [
    ({}, None),
    ({'WATCHDOG_USEC': '60000000'}, 30.0),
    ({'WATCHDOG_USEC': '2000000', 'WATCHDOG_PID': str(os.getpid())}, 1.0),
    ({'WATCHDOG_USEC': '2000000', 'WATCHDOG_PID': '1'}, None),     # another process's
    ({'WATCHDOG_USEC': '0'}, None),
    ({'WATCHDOG_USEC': 'x'}, None),
])
def test_watchdog_interval(environ, interval):
    assert sdnotify.watchdog_interval(environ) == interval


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Queue:
    def __init__(self, alive):
        self.alive = alive

    def workers_alive(self):
        return self.alive


class Agent:
    def __init__(self, queue):
        self.queue = queue


def test_tick_goes_stale_when_the_loop_stops():
    clock = Clock()
    tick = watchdog.Tick('the main loop', clock)
    check = tick.check(10.0)
    clock.now += 9.0
    assert check() == ''
    clock.now += 2.0
    assert check() == 'the main loop has not turned for 11.0 s'
    tick.beat()
    assert check() == ''


def test_pings_only_while_every_check_passes(listener):
    notifier = sdnotify.Notifier({'NOTIFY_SOCKET': listener.getsockname()})
    queue = Queue(True)
    dog = watchdog.Watchdog(notifier, 1.0, [watchdog.queue_workers(Agent(queue)),
                                            watchdog.queue_workers(object())])
    assert dog.ping_once() and listener.recv(64) == b'WATCHDOG=1'
    queue.alive = False
    assert not dog.ping_once()
    assert dog.problems() == ['a work queue worker thread is gone']
    queue.alive = True
    assert dog.ping_once() and dog.pings == 2


def test_a_check_that_raises_withholds_the_ping():
    def broken():
        raise RuntimeError('boom')
    dog = watchdog.Watchdog(sdnotify.Notifier({}), 1.0, [broken])
    assert not dog.ping_once() and dog.problems() == ['check failed: boom']
