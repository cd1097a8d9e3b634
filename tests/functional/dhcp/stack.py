"""A controller and a DHCP agent as separate processes on a private vhost and bridge.

Used by the functional DHCP tests and by ``tools/bench-dhcp.py``.  Everything
it creates is named from the run id and removed by :meth:`DhcpStack.close`:
the vhost (with its exchange and queues), the integration bridge, the state
directory (children carry it in their command line), the namespaces of the
networks and probes it made.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from agent.common import fileutils
from agent.dhcp import desired, render
from agent.dhcp.settings import DhcpPaths
from tests.functional.controller_api.server_process import ServerProcess

BIN = os.path.dirname(sys.executable)
AGENT_BIN = os.path.join(BIN, 'netnode-dhcp-agent')
BROKER = '127.0.0.1:5672'


def sh(*args, check=True, timeout=60):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          check=check, timeout=timeout)


def wait_for(predicate, timeout=10.0, interval=0.02, what='condition'):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout} s waiting for {what}')
        time.sleep(interval)


def pids_with(marker):
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f'/proc/{entry}/cmdline', 'rb') as f:
                cmd = f.read().decode(errors='replace')
        except OSError:
            continue
        if marker in cmd:
            found.append(int(entry))
    return found


def netns_list():
    return {line.split()[0] for line in sh('ip', 'netns', 'list').stdout.splitlines()
            if line.strip()}


def ip_json(ns, *args):
    return json.loads(sh('ip', '-j', '-n', ns, *args).stdout or '[]')


def dnsmasq_pid(stack, net_id):
    """The pid of the network's dnsmasq, if one of ours runs."""
    path = os.path.join(stack.state_path, 'dhcp', net_id, 'pid')
    try:
        pid = int(open(path).read().strip())
        cmd = open(f'/proc/{pid}/cmdline', 'rb').read()
    except (OSError, ValueError):
        return None
    return pid if net_id.encode() in cmd else None


def port_ip(port):
    return port['fixed_ips'][0]['ip_address']


def write_dnsmasq_files(network, settings, device, dhcp_port_id):
    """Write what the agent writes for dnsmasq (its spec's files and lease seed);
    returns (DhcpPaths, the rendered DnsmasqFiles)."""
    spec = desired.dnsmasq_spec(network, device, dhcp_port_id, settings)
    for path, content in spec.config_files + spec.spawn_files:
        fileutils.ensure_dir(os.path.dirname(path))
        fileutils.write_atomic(path, content)
    return (DhcpPaths.of(settings, network.id),
            render.render_files(network, settings, dhcp_port_id))


class DhcpStack:
    def __init__(self, run_id: str, name: str, leaks=None, agent_conf: str = '',
                 report_interval: float = 2, resync_interval: int = 3,
                 state_tmpfs: str | None = None, server_conf: str = ''):
        self.run_id = run_id
        self.name = name
        self.leaks = leaks
        self.base = tempfile.mkdtemp(prefix=f'netnode-{run_id}-{name}-')
        os.chmod(self.base, 0o755)      # dnsmasq re-reads its files as nobody
        self.state_path = os.path.join(self.base, 'agent-state')
        self.bridge = f'br-{run_id}{name[:1]}-i'
        self.host = f'{run_id}-{name}-host'
        self.vhost = f'netnode-{run_id}-{name}'
        self.exchange = f'netnode-{run_id}-{name}'
        self.url = f'rabbit://guest:guest@{BROKER}/{self.vhost}'
        self.agent_conf_path = os.path.join(self.base, 'dhcp_agent.ini')
        self.agent_log = os.path.join(self.base, 'dhcp-agent.log')
        self.extra_agent_conf = agent_conf
        self.extra_server_conf = server_conf
        self.report_interval = report_interval
        self.resync_interval = resync_interval
        self.state_tmpfs = state_tmpfs      # e.g. '4m': the state path is a small tmpfs
        self.mounted = False
        self.server: ServerProcess | None = None
        self.agent: subprocess.Popen | None = None
        self.namespaces: set[str] = set()
        if leaks is not None:
            leaks.bridge(self.bridge)
            leaks.process_marker(self.base)

    # -- setup ----------------------------------------------------------------------

    def start(self):
        try:
            sh('rabbitmqctl', '-q', 'add_vhost', self.vhost)
            sh('rabbitmqctl', '-q', 'set_permissions', '-p', self.vhost, 'guest',
               '.*', '.*', '.*')
            sh('ovs-vsctl', '--may-exist', 'add-br', self.bridge, '--', 'set', 'bridge',
               self.bridge, 'datapath_type=netdev')
            self.server = ServerProcess(
                os.path.join(self.base, 'server'), debug=True,
                extra_conf='\n'.join(['enable_rpc = true', f'transport_url = {self.url}',
                                      f'control_exchange = {self.exchange}',
                                      'rpc_response_timeout = 10',
                                      self.extra_server_conf]))
            os.makedirs(self.server.base_dir, exist_ok=True)
            if self.leaks is not None:
                self.leaks.process_marker(self.server.marker)
            self.server.start()
            if self.state_tmpfs:
                os.makedirs(self.state_path, exist_ok=True)
                sh('mount', '-t', 'tmpfs', '-o', f'size={self.state_tmpfs},mode=0755',
                   'netnode-test', self.state_path)
                self.mounted = True
            self.write_agent_conf()
            self.start_agent()
        except BaseException:
            self.close()
            raise
        return self

    def write_agent_conf(self):
        with open(self.agent_conf_path, 'w') as f:
            f.write('\n'.join([
                '[DEFAULT]', f'host = {self.host}', f'state_path = {self.state_path}',
                f'transport_url = {self.url}', f'control_exchange = {self.exchange}',
                'rpc_response_timeout = 10', 'debug = true',
                f'log_file = {self.agent_log}', 'enable_isolated_metadata = true',
                self.extra_agent_conf,
                '[AGENT]', f'report_interval = {self.report_interval}',
                'check_child_processes_interval = 1',
                f'resync_interval = {self.resync_interval}', 'resync_throttle = 0.5',
                '[ovs]', f'integration_bridge = {self.bridge}', 'datapath_type = netdev',
                '']))

    def start_agent(self, wait=True, timeout=30.0):
        self._log_mark = os.path.getsize(self.agent_log) if os.path.exists(
            self.agent_log) else 0
        self.agent = subprocess.Popen(
            [AGENT_BIN, '--config-file', self.agent_conf_path],
            stdout=subprocess.DEVNULL, stderr=open(self.agent_log + '.stderr', 'ab'))
        if wait:
            wait_for(lambda: self._agent_in_sync(), timeout, 0.05, 'the DHCP agent in sync')
        return self.agent

    def agent_log_text(self, since_start=True):
        try:
            with open(self.agent_log, errors='replace') as f:
                if since_start:
                    f.seek(self._log_mark)
                return f.read()
        except FileNotFoundError:
            return ''

    def _agent_in_sync(self):
        if self.agent.poll() is not None:
            raise AssertionError(f'DHCP agent exited with {self.agent.returncode}: '
                                 f'{self.agent_log_text()[-3000:]}')
        return 'in sync' in self.agent_log_text()

    def stop_agent(self, sig=signal.SIGTERM, timeout=20.0):
        if self.agent is None or self.agent.poll() is not None:
            return None
        self.agent.send_signal(sig)
        try:
            return self.agent.wait(timeout)
        except subprocess.TimeoutExpired:
            self.agent.kill()
            return self.agent.wait()

    # -- REST -----------------------------------------------------------------------

    def api(self, method, path, body=None):
        status, data = self.server.call(method, '/v2.0' + path, body)
        if status >= 300:
            raise AssertionError(f'{method} {path}: {status} {data}')
        return data

    def create_network(self, name='net', cidr='192.168.10.0/24', gateway='192.168.10.1',
                       dns=('192.0.2.53', '192.0.2.54'), **subnet_extra):
        net = self.api('POST', '/networks', {'network': {'name': name}})['network']
        self.namespaces.add(self._ns(f'qdhcp-{net["id"]}'))
        body = {'network_id': net['id'], 'cidr': cidr, 'ip_version': 4,
                'gateway_ip': gateway, 'dns_nameservers': list(dns),
                'name': f'{name}-subnet', **subnet_extra}
        subnet = self.api('POST', '/subnets', {'subnet': body})['subnet']
        return net, subnet

    def _ns(self, name):
        if self.leaks is not None:
            self.leaks.namespace(name)
        return name

    def dhcp_port(self, network_id):
        ports = self.api('GET', f'/ports?network_id={network_id}'
                                f'&device_owner=network:dhcp')['ports']
        return ports[0] if ports else None

    def cli(self, *args):
        return self.server.cli(*args)

    def probe_create(self, network_id, name=None):
        args = ['-f', 'json', 'probe-create', network_id, '--config-file',
                self.agent_conf_path] + (['--name', name] if name else [])
        code, out, err = self.cli(*args)
        if code != 0:
            raise AssertionError(f'probe-create failed: {err}')
        probe = json.loads(out)
        ns = self._ns(probe['namespace'])
        self.namespaces.add(ns)
        os.makedirs(f'/etc/netns/{ns}', exist_ok=True)
        return probe

    def probe_delete(self, probe):
        code, _, err = self.cli('probe-delete', probe['id'], '--config-file',
                                self.agent_conf_path)
        shutil.rmtree(f'/etc/netns/{probe["namespace"]}', ignore_errors=True)
        if code != 0:
            raise AssertionError(f'probe-delete failed: {err}')

    # -- teardown -------------------------------------------------------------------

    def close(self):
        with contextlib.suppress(Exception):
            self.stop_agent()
        if self.server is not None:
            with contextlib.suppress(Exception):
                self.server.stop()
        for pid in pids_with(self.base):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        present = netns_list()
        for ns in sorted(self.namespaces & present):
            sh('ip', 'netns', 'delete', ns, check=False)
        for ns in self.namespaces:
            shutil.rmtree(f'/etc/netns/{ns}', ignore_errors=True)
        if self.mounted:
            sh('umount', '-l', self.state_path, check=False)
        sh('ovs-vsctl', '--if-exists', 'del-br', self.bridge, check=False)
        sh('rabbitmqctl', '-q', 'delete_vhost', self.vhost, check=False)
        shutil.rmtree(self.base, ignore_errors=True)


def new_name():
    return uuid.uuid4().hex[:6]
