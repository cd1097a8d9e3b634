"""A controller and a metadata agent as separate processes, on a private vhost.

Everything is named from the run id and removed by :meth:`MetadataStack.close`:
the vhost (with the run's exchange ``netnode-<run_id>-md`` and its queues), the
base directory (state path, configs, logs, the metadata socket; every process we
start carries it in its command line).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import uuid

from tests.functional.helpers.host import wait_for
from tests.functional.helpers.stack_base import BIN, ControllerStack

AGENT_BIN = os.path.join(BIN, 'netnode-metadata-agent')


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10.0):
        super().__init__('localhost', timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def unix_get(path, url, headers=None, method='GET', timeout=10.0):
    """(status, body bytes) of one request over the unix socket ``path``."""
    conn = UnixHTTPConnection(path, timeout)
    try:
        conn.request(method, url, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class MetadataAgentProcess:
    """A netnode-metadata-agent process: config, log and socket under ``base``."""

    def __init__(self, base, state_path, url, exchange, host, extra_conf='', prefix=(),
                 umask=None):
        self.base = base
        self.state_path = state_path
        self.socket_path = os.path.join(state_path, 'metadata_proxy')
        self.url, self.exchange, self.host = url, exchange, host
        self.conf_path = os.path.join(base, 'metadata_agent.ini')
        self.log = os.path.join(base, 'metadata-agent.log')
        self.extra_conf = extra_conf
        self.prefix = tuple(prefix)      # e.g. setpriv with the unit's capability bound
        self.umask = umask               # None: ours
        self.proc: subprocess.Popen | None = None

    def write_conf(self):
        os.makedirs(self.state_path, exist_ok=True)
        with open(self.conf_path, 'w') as f:
            f.write('\n'.join([
                '[DEFAULT]', f'host = {self.host}', f'state_path = {self.state_path}',
                f'transport_url = {self.url}', f'control_exchange = {self.exchange}',
                'debug = true', f'log_file = {self.log}',
                'metadata_rpc_timeout = 1.5', 'metadata_cache_ttl = 0',
                self.extra_conf,
                '[AGENT]', 'report_interval = 5', '']))

    def _answers(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f'netnode-metadata-agent exited with '
                                 f'{self.proc.returncode}: {self.tail()}')
        try:
            unix_get(self.socket_path, '/', timeout=2)
            return True
        except OSError:
            return False

    def start(self, timeout=20.0):
        self.write_conf()
        self.proc = subprocess.Popen(
            [*self.prefix, AGENT_BIN, '--config-file', self.conf_path],
            stdout=subprocess.DEVNULL, stderr=open(self.log + '.stderr', 'ab'),
            umask=-1 if self.umask is None else self.umask)
        wait_for(self._answers, timeout, 0.05, 'the metadata agent socket')
        return self.proc

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def tail(self, n=30):
        text = ''
        for path in (self.log, self.log + '.stderr'):
            try:
                with open(path, errors='replace') as f:
                    text += f.read()
            except FileNotFoundError:
                pass
        return '\n'.join(text.splitlines()[-n:])


@contextlib.contextmanager
def with_metadata_agent(stack, prefix=(), umask=None):
    """A metadata agent serving the state path of ``stack`` (a started DHCP or L3
    stack) on its vhost; at the end the agent is stopped and the stack closed."""
    md = MetadataAgentProcess(os.path.join(stack.base, 'md'), stack.state_path, stack.url,
                              stack.exchange, stack.host, prefix=prefix, umask=umask)
    try:
        os.makedirs(md.base, exist_ok=True)
        md.start()
        yield stack
    finally:
        md.stop()
        stack.close()


def curl(ns, path, *headers):
    """(status, body bytes) of a GET of http://169.254.169.254``path`` from ``ns``."""
    cmd = ['ip', 'netns', 'exec', ns, 'curl', '-s', '-m', '5', '-w', '\n%{http_code}']
    for h in headers:
        cmd += ['-H', h]
    res = subprocess.run([*cmd, f'http://169.254.169.254{path}'], capture_output=True,
                         timeout=20)
    body, _, code = res.stdout.rpartition(b'\n')
    return int(code or 0), body


class MetadataStack(ControllerStack):
    def __init__(self, run_id: str, leaks=None, agent_conf: str = ''):
        super().__init__(run_id, leaks, prefix=f'netnode-{run_id}-md-',
                         vhost=f'netnode-{run_id}-md-{uuid.uuid4().hex[:6]}',
                         exchange=f'netnode-{run_id}-md', host_name=f'{run_id}-md-host')
        self.agent = MetadataAgentProcess(self.base, self.state_path, self.url,
                                          self.exchange, self.host, agent_conf)
        self.socket_path = self.agent.socket_path

    def start(self):
        try:
            self.start_controller()
            self.agent.start()
        except BaseException:
            self.close()
            raise
        return self

    def start_agent(self):
        return self.agent.start()

    def stop_agent(self):
        self.agent.stop()

    # -- the controller ------------------------------------------------------------

    def api(self, method, path, body=None):
        status, doc = self.server.call(method, path, body)
        assert status < 300, f'{method} {path}: {status} {doc}'
        return doc

    def restart_server(self):
        """Start the (stopped) controller again on the same database."""
        self.server.stop()
        # ServerProcess reads its port from the first listen line of its log
        os.replace(self.server.log_path, self.server.log_path + '.old')
        self.server.port = None
        self.server.start()

    def cli(self, *args):
        code, out, err = self.server.cli(*args)
        assert code == 0, f'netnode {" ".join(args)} failed: {err}'
        return out

    def network(self, name, cidr, gateway, external=False):
        net = self.api('POST', '/v2.0/networks', {'network': {
            'name': name, 'router:external': external}})['network']
        subnet = self.api('POST', '/v2.0/subnets', {'subnet': {
            'network_id': net['id'], 'cidr': cidr, 'ip_version': 4,
            'gateway_ip': gateway, 'dns_nameservers': ['192.0.2.53']}})['subnet']
        return net, subnet

    def instance_port(self, net, subnet, ip, device_id):
        return self.api('POST', '/v2.0/ports', {'port': {
            'network_id': net['id'], 'device_id': device_id,
            'device_owner': 'compute:nova', 'binding:host_id': 'compute1',
            'fixed_ips': [{'subnet_id': subnet['id'], 'ip_address': ip}]}})['port']


def check_shared_proxy_outlives_a_restart(s, agent, resource_id, delete):
    """metadata_proxy_mode = shared: ``s``'s agent (``agent``: 'l3' or 'dhcp') serves
    ``resource_id`` through its shared proxy; the agent's SIGTERM leaves the proxy
    serving, the next agent adopts it and hands nothing over again, and once
    ``delete()`` removed the resource its listener goes (its socket would keep
    the namespace alive), the proxy staying the same process."""
    from agent.metadata import node_proxy
    from agent.process.manager import ProcessManager
    spec = node_proxy.process_spec(s.state_path, agent, s.host, '/unused', 'x', 'x')
    proxy, manager = node_proxy.NodeProxy(ProcessManager(), spec), ProcessManager()
    wait_for(lambda: resource_id in proxy.served(), 30, 0.1, f'{resource_id} served')
    pid = manager.observe(spec).pid
    s.stop_agent()
    assert manager.observe(spec).pid == pid and resource_id in proxy.served()
    s.start_agent()
    assert manager.observe(spec).pid == pid
    assert not [line for line in s.agent_log_text().splitlines()
                if 'metadata listener' in line and 'serving' in line]
    assert 'listeners handed over' not in s.agent_log_text()
    delete()
    wait_for(lambda: resource_id not in proxy.served(), 30, 0.1,
             f'the listener of {resource_id} removed')
    assert manager.observe(spec).pid == pid
