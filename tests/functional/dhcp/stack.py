"""A controller and a DHCP agent as separate processes on a private vhost and bridge.

Used by the functional DHCP tests and by ``tools/bench-dhcp.py``.  Everything
it creates is named from the run id and removed by :meth:`DhcpStack.close`:
the vhost (with its exchange and queues), the integration bridge, the state
directory (children carry it in their command line), the namespaces of the
networks and probes it made.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid

from agent.common import fileutils
from agent.dhcp import desired, render
from agent.dhcp.settings import DhcpPaths
from tests.functional.helpers.host import (  # noqa: F401 - the DHCP tests import them from here
    ip_json, netns_list, sh, wait_for)
from tests.functional.helpers.stack_base import BIN, AgentStack


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


class DhcpStack(AgentStack):
    AGENT_BIN = os.path.join(BIN, 'netnode-dhcp-agent')
    AGENT_LABEL = 'DHCP agent'
    AGENT_FILES = 'dhcp'
    START_TIMEOUT = 30.0
    STOP_TIMEOUT = 20.0

    def __init__(self, run_id: str, name: str, leaks=None, agent_conf: str = '',
                 report_interval: float = 2, resync_interval: int = 3,
                 state_tmpfs: str | None = None, server_conf: str = ''):
        self.bridge = f'br-{run_id}{name[:1]}-i'
        super().__init__(run_id, leaks, prefix=f'netnode-{run_id}-{name}-',
                         vhost=f'netnode-{run_id}-{name}', exchange=f'netnode-{run_id}-{name}',
                         host_name=f'{run_id}-{name}-host', bridges=(self.bridge,),
                         server_conf=server_conf, agent_conf=agent_conf,
                         report_interval=report_interval, resync_interval=resync_interval)
        self.name = name
        self.state_tmpfs = state_tmpfs      # e.g. '4m': the state path is a small tmpfs
        self.mounted = False

    # -- setup ----------------------------------------------------------------------

    def start(self):
        try:
            self.start_controller()
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

    def agent_options(self):
        return (('enable_isolated_metadata = true',), (),
                (f'integration_bridge = {self.bridge}',))

    # -- REST -----------------------------------------------------------------------

    def create_network(self, name='net', cidr='192.168.10.0/24', gateway='192.168.10.1',
                       dns=('192.0.2.53', '192.0.2.54'), **subnet_extra):
        net = self.api('POST', '/networks', {'network': {'name': name}})['network']
        self.ns(f'qdhcp-{net["id"]}')
        body = {'network_id': net['id'], 'cidr': cidr, 'ip_version': 4,
                'gateway_ip': gateway, 'dns_nameservers': list(dns),
                'name': f'{name}-subnet', **subnet_extra}
        subnet = self.api('POST', '/subnets', {'subnet': body})['subnet']
        return net, subnet

    def _ns(self, name):
        """Register ``name`` with the leak check only (close() leaves it alone)."""
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
        ns = self.ns(probe['namespace'])
        os.makedirs(f'/etc/netns/{ns}', exist_ok=True)
        return probe

    def probe_delete(self, probe):
        code, _, err = self.cli('probe-delete', probe['id'], '--config-file',
                                self.agent_conf_path)
        shutil.rmtree(f'/etc/netns/{probe["namespace"]}', ignore_errors=True)
        if code != 0:
            raise AssertionError(f'probe-delete failed: {err}')

    # -- teardown -------------------------------------------------------------------

    def release(self):
        if self.mounted:
            sh('umount', '-l', self.state_path, check=False)


def new_name():
    return uuid.uuid4().hex[:6]
