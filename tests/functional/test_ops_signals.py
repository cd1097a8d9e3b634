"""What operators ask a running agent (issue 14), against real agent processes on a
real controller and broker: SIGUSR2's Guru Meditation Report (it killed the agents
before), the Prometheus endpoint (a real scrape), a log file renamed under the
agent as logrotate does, systemd's readiness and watchdog through a stand-in
``NOTIFY_SOCKET`` (a unix datagram socket bound here: systemd is not PID 1 on
this machine), pinging on through a broker outage."""

import contextlib
import os
import re
import shutil
import signal
import socket
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from tests.functional.dhcp.stack import DhcpStack, dnsmasq_pid
from tests.functional.helpers.host import alive, wait_for
from tests.functional.helpers.private_broker import PrivateBroker, free_port
from tests.functional.l3.stack import L3Stack
from tests.functional.metadata.stack import MetadataStack, unix_get

pytestmark = pytest.mark.functional

REPORT_TIMEOUT = 30.0      # seconds; the report is written in well under one


def log_since(path, mark):
    with open(path, errors='replace') as f:
        f.seek(mark)
        return f.read()


def metric(text, name, default=None, **labels):
    """The value of one sample of the exposition ``text`` (``default`` if given and
    there is none)."""
    want = ','.join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        head, _, value = line.rpartition(' ')
        if head.startswith(name + '{') and all(p in head for p in want.split(',') if p):
            return float(value)
    if default is not None:
        return default
    raise AssertionError(f'no {name} {labels} in:\n{text}')


@pytest.fixture(scope='module')
def served(run_id, leaks):
    """A DHCP agent with its metrics endpoint on, serving one network."""
    port = free_port()
    stack = DhcpStack(run_id, 'usr2', leaks,
                      agent_conf=f'\n[AGENT]\nmetrics_bind_port = {port}\n')
    stack.start()
    try:
        net, _ = stack.create_network('ops', '10.64.0.0/24', '10.64.0.1')
        wait_for(lambda: dnsmasq_pid(stack, net['id']), 60, 0.1, 'dnsmasq')
        yield stack, net, port
    finally:
        stack.close()


def test_sigusr2_logs_a_report_and_the_agent_serves_on(served):
    stack, net, _ = served
    agent = stack.agent.pid
    child = dnsmasq_pid(stack, net['id'])
    for attempt in (1, 2):          # and again: the first one left nothing stuck
        mark = os.path.getsize(stack.agent_log)
        os.kill(agent, signal.SIGUSR2)
        # one log record, the configuration its last section
        wait_for(lambda: ' Configuration ' in log_since(stack.agent_log, mark),
                 REPORT_TIMEOUT, 0.1, f'report {attempt}')
    report = log_since(stack.agent_log, mark)
    assert 'Guru Meditation Report (SIGUSR2) of netnode-dhcp-agent' in report
    for section in ('Package', 'Threads', 'Thread names', 'Work queue', 'Full sync',
                    'Bus', 'Children', 'Processes', 'Configuration'):
        assert f' {section} ' in report, f'no {section} section:\n{report[:4000]}'
    assert f'dnsmasq {net["id"]} = pid {child}, running' in report
    assert re.search(r'depth \(waiting\) = \d+', report)
    assert 'dhcp-worker-0' in report and 'transport_url = ***' in report
    assert alive(agent) and stack.agent.poll() is None
    # still serving: a network made after the reports gets its dnsmasq
    net2, _ = stack.create_network('ops2', '10.64.1.0/24', '10.64.1.1')
    wait_for(lambda: dnsmasq_pid(stack, net2['id']), 60, 0.1, 'dnsmasq after SIGUSR2')


def test_sigusr2_to_the_server_logs_a_report(served):
    stack, _, _ = served
    mark = os.path.getsize(stack.server.log_path)
    os.kill(stack.server.proc.pid, signal.SIGUSR2)
    wait_for(lambda: ' Configuration ' in log_since(stack.server.log_path, mark),
             REPORT_TIMEOUT, 0.1, 'the server report')
    report = log_since(stack.server.log_path, mark)
    assert 'Guru Meditation Report (SIGUSR2) of netnode-server' in report
    assert ' Threads ' in report and 'Work queue' not in report
    assert stack.server.proc.poll() is None
    assert stack.api('GET', '/networks')['networks']


def scrape(port):
    with urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics', timeout=10) as resp:
        assert resp.headers['Content-Type'].startswith('text/plain; version=0.0.4')
        return resp.read().decode()


def settled(port):
    """The scrape once no reconcile waits or runs and one has succeeded (the
    networks' reconciles may still run when the test starts: OVS is slow under
    load)."""
    text = scrape(port)
    busy = metric(text, 'netnode_queue_depth') + metric(text, 'netnode_queue_in_flight')
    done = metric(text, 'netnode_reconcile_duration_seconds_count', outcome='success')
    return text if busy == 0 and done >= 1 else None


def test_metrics_scrape(served):
    stack, net, port = served
    text = wait_for(lambda: settled(port), 180, 0.5, 'the reconciles done, in the metrics')
    print(text)
    labels = {'agent': 'netnode-dhcp-agent'}
    assert metric(text, 'netnode_children', kind='dnsmasq', state='running', **labels) >= 1
    assert metric(text, 'netnode_children', kind='dnsmasq', state='dead') == 0
    assert metric(text, 'netnode_queue_depth') == 0 and metric(text, 'netnode_queue_paused') == 0
    assert metric(text, 'netnode_in_sync') == 1 and metric(text, 'netnode_bus_up') == 1
    assert metric(text, 'netnode_full_syncs_total') >= 1
    assert 0 <= metric(text, 'netnode_seconds_since_full_sync') < 600
    runs = metric(text, 'netnode_reconcile_duration_seconds_count', outcome='success')
    assert runs >= 1
    assert metric(text, 'netnode_reconcile_duration_seconds_bucket', outcome='success',
                  le='+Inf') == runs
    assert metric(text, 'netnode_reconcile_keys', state='done') >= 1
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f'http://127.0.0.1:{port}/', timeout=10)
    assert err.value.code == 404
    # bound to loopback only (the default)
    listening = open('/proc/net/tcp').read()
    assert f'0100007F:{port:04X}' in listening and f'00000000:{port:04X}' not in listening


def test_log_file_renamed_as_logrotate_does(served):
    """oslo.log writes through a WatchedFileHandler: after a rename (logrotate's
    default, ``create``) the next record goes to a new file of the same name."""
    stack, _, _ = served
    rotated = stack.agent_log + '.1'
    os.rename(stack.agent_log, rotated)
    size = os.path.getsize(rotated)
    os.kill(stack.agent.pid, signal.SIGUSR2)       # something to log
    wait_for(lambda: os.path.exists(stack.agent_log) and 'Guru Meditation Report'
             in open(stack.agent_log, errors='replace').read(), REPORT_TIMEOUT, 0.1,
             'the log reopened under its name')
    assert os.path.getsize(rotated) == size      # nothing more went to the old file
    assert stack.agent.poll() is None


def report_after(path, mark):
    """The report logged after ``mark`` (the configuration is its last section)."""
    wait_for(lambda: ' Configuration ' in log_since(path, mark), REPORT_TIMEOUT, 0.1,
             f'a Guru Meditation Report in {path}')
    return log_since(path, mark)


def test_l3_agent_report_and_metrics(run_id, leaks):
    port = free_port()
    stack = L3Stack(run_id, 'gmrl3', leaks, agent_conf=f'\n[AGENT]\nmetrics_bind_port = {port}\n')
    stack.start()
    try:
        _, sub = stack.network('opsl3-int', '10.65.0.0/24', '10.65.0.1')
        router = stack.router('opsl3-router')
        stack.add_interface(router['id'], sub['id'])
        text = wait_for(lambda: settled(port) if metric(scrape(port), 'netnode_children', 0,
                                                         kind='haproxy', state='running')
                        else None, 180, 0.5, "the router's haproxy, in the metrics")
        assert metric(text, 'netnode_children', agent='netnode-l3-agent', kind='haproxy',
                      state='running') == 1
        mark = os.path.getsize(stack.agent_log)
        os.kill(stack.agent.pid, signal.SIGUSR2)
        report = report_after(stack.agent_log, mark)
        assert f'haproxy {router["id"]} = pid ' in report and 'l3-worker-0' in report
        assert stack.agent.poll() is None
    finally:
        stack.close()


def test_metadata_agent_report_and_metrics(run_id, leaks):
    port = free_port()
    stack = MetadataStack(run_id, leaks, agent_conf=f'\n[AGENT]\nmetrics_bind_port = {port}\n')
    stack.start()
    try:
        mark = os.path.getsize(stack.agent.log)
        os.kill(stack.agent.proc.pid, signal.SIGUSR2)
        report = report_after(stack.agent.log, mark)
        assert 'of netnode-metadata-agent' in report and ' Bus ' in report
        assert 'Work queue' not in report
        net, _ = stack.network('opsmd', '10.66.0.0/24', '10.66.0.1')
        status, _ = unix_get(stack.socket_path, '/latest/meta-data/',
                             {'X-Forwarded-For': '10.66.0.99',
                              'X-Neutron-Network-ID': net['id']})
        assert status == 404                 # no instance there
        text = wait_for(lambda: (lambda t: t if metric(t, 'netnode_bus_up') == 1 else None)(
            scrape(port)), 60, 0.5, 'the first report_state, in the metrics')
        assert metric(text, 'netnode_metadata_requests_total', result='not_found') == 1
        assert stack.agent.proc.poll() is None
    finally:
        stack.close()


class NotifySocket:
    """systemd's end of sd_notify: a unix datagram socket the agent sends to."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []

    def drain(self):
        with contextlib.suppress(TimeoutError, BlockingIOError):
            while True:
                self.messages.append((time.monotonic(),
                                      self.sock.recv(4096).decode()))
        return self.messages

    def pings_since(self, start):
        return [t for t, m in self.drain() if 'WATCHDOG=1' in m.split('\n') and t >= start]

    def close(self):
        self.sock.close()


def test_ready_and_watchdog_through_a_broker_outage(run_id, leaks):
    base = tempfile.mkdtemp(prefix=f'netnode-{run_id}-sdn-')
    leaks.process_marker(base)
    broker = PrivateBroker(base, f'netnode-{run_id}-sdn')
    notify = NotifySocket(os.path.join(base, 'notify'))
    stack = DhcpStack(run_id, 'wdog', leaks)
    stack.START_TIMEOUT = 90.0        # a node of its own and a controller on it, loaded
    stack.agent_env = {'NOTIFY_SOCKET': notify.sock.getsockname(),
                       'WATCHDOG_USEC': '2000000'}           # pings every 1 s
    try:
        broker.start()
        stack.url = broker.url
        try:
            stack.start()
        except AssertionError:
            print(stack.agent_log_text()[-5000:])
            print(open(stack.agent_log + '.stderr').read()[-3000:])
            raise
        ready = [m for _, m in notify.drain() if 'READY=1' in m.split('\n')]
        assert ready and 'STATUS=DHCP agent started' in ready[0]
        start = time.monotonic()
        wait_for(lambda: len(notify.pings_since(start)) >= 2, 20, 0.2, 'watchdog pings')
        broker.stop()
        down = time.monotonic()
        time.sleep(8)
        pings = notify.pings_since(down)
        print(f'{len(pings)} watchdog pings in the 8 s the broker was down')
        assert len(pings) >= 4, pings
        assert stack.agent.poll() is None
        assert 'report_state to the server failed' in stack.agent_log_text() or \
            'AMQP server' in stack.agent_log_text()
        os.kill(stack.agent.pid, signal.SIGTERM)
        stack.agent.wait(20)
        assert any('STOPPING=1' in m for _, m in notify.drain())
    finally:
        stack.close()
        broker.close()
        notify.close()
        shutil.rmtree(base, ignore_errors=True)
