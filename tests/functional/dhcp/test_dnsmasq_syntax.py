"""The rendered argv and files are valid for the dnsmasq installed here.

``dnsmasq --test`` checks the command line and conf files but does not open the
hosts/opts files, so their lines are also fed through a conf file as
``dhcp-host=`` / ``dhcp-option=`` (the same syntax); then dnsmasq is really started
in a namespace of its own and must read every file without complaint.
"""

import dataclasses
import os
import shutil
import tempfile
import signal
import subprocess
import time
import uuid

import pytest

from agent.dhcp import dnsmasq
from agent.dhcp.settings import DnsmasqSettings
from agent.model import network as m
from tests.functional.dhcp.stack import write_dnsmasq_files
from tests.unit.dhcp import golden as g
from tests.unit.dhcp.test_render import DUAL, OPT_CID, OPT_TFTP, OPT_V6, SID2, V6_STATEFUL, \
    V6_STATELESS, vm

pytestmark = pytest.mark.functional

SECOND = g.subnet(id=SID2, cidr=g.net('10.20.0.0/24'), gateway_ip=g.ip('10.20.0.1'),
                  dns_nameservers=('0.0.0.0',),
                  host_routes=(m.HostRoute(g.net('10.0.0.0/8'), g.ip('10.20.0.254')),))
V6_PORT = g.port('33333333-4444-4555-8666-777777777777', 'fa:16:3e:00:00:66',
                 (g.SUBNET_ID, '192.168.10.66'), (V6_STATEFUL.id, 'fd00:10::66'))

NETWORKS = {
    'golden': (g.NETWORK, DnsmasqSettings()),
    'rich': (dataclasses.replace(
        g.NETWORK,
        subnets=(g.subnet(dns_nameservers=('8.8.8.8', '1.1.1.1')), SECOND, V6_STATEFUL),
        ports=(g.ROUTER_PORT, vm(OPT_TFTP, OPT_CID, OPT_V6, m.DhcpOpt('66', '10.0.0.9'),
                                 m.DhcpOpt('tag:ipxe,bootfile-name', 'http://x/b.ipxe'),
                                 ips=DUAL),
               V6_PORT, g.DHCP_PORT)),
        DnsmasqSettings(enable_isolated_metadata=True, renewal_time=300,
                        rebinding_time=600, dns_servers=('9.9.9.9',),
                        broadcast_reply=True, lease_duration=-1)),
    'stateless': (dataclasses.replace(
        g.NETWORK, subnets=(g.subnet(), V6_STATELESS),
        ports=(vm(OPT_V6, OPT_TFTP, ips=((g.SUBNET_ID, '192.168.10.93'),
                                         (V6_STATELESS.id, 'fd00:10::5'))),
               g.DHCP_PORT)), DnsmasqSettings(force_metadata=True)),
}


def write_config(state_dir, network, settings):
    settings = dataclasses.replace(settings, state_path=str(state_dir))
    paths, files = write_dnsmasq_files(network, settings, 'tape9f30b29-bf',
                                       g.DHCP_PORT_ID)
    return settings, paths, files


@pytest.mark.parametrize('name', sorted(NETWORKS))
def test_dnsmasq_test_accepts_argv_and_file_lines(tmp_path, name):
    network, settings = NETWORKS[name]
    settings, paths, files = write_config(tmp_path, network, settings)
    lines = ([f'dhcp-host={line}' for line in files.host.splitlines()]
             + [f'dhcp-option={line}' for line in files.opts.splitlines()])
    assert lines
    conf = tmp_path / 'lines.conf'
    conf.write_text(''.join(line + '\n' for line in lines))
    settings = dataclasses.replace(settings, config_file=str(conf))
    argv = dnsmasq.dnsmasq_argv(network, 'tapx', settings)
    res = subprocess.run([*argv, '--test'], capture_output=True, text=True, timeout=10)
    assert res.returncode == 0, (res.stderr, lines)
    assert 'syntax check OK' in res.stderr


@pytest.fixture
def state_dir(run_id):
    """World-readable: dnsmasq drops to `nobody` before reading (and re-reading
    on SIGHUP) the hosts and options files, as it does under Neutron."""
    path = tempfile.mkdtemp(prefix=f'{run_id}-dnsmasq-')
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def ip_netns(name, *args):
    subprocess.run(['ip', 'netns', 'exec', name, 'ip', *args], check=True)


@pytest.fixture
def namespace(leaks, run_id):
    """A namespace with a dummy "tap" holding the DHCP port's addresses."""
    name = leaks.namespace(f'nntest-{run_id}-{uuid.uuid4().hex[:8]}')
    subprocess.run(['ip', 'netns', 'add', name], check=True)
    try:
        ip_netns(name, 'link', 'set', 'lo', 'up')
        ip_netns(name, 'tuntap', 'add', 'tapx', 'mode', 'tap')
        ip_netns(name, 'link', 'set', 'tapx', 'address', 'fa:16:3e:73:4a:f9', 'up')
        for cidr in ('192.168.10.2/24', '10.20.0.2/24', 'fd00:10::2/64'):
            ip_netns(name, 'addr', 'add', cidr, 'dev', 'tapx')
        yield name
    finally:
        subprocess.run(['ip', 'netns', 'delete', name], check=True)


@pytest.mark.parametrize('name', sorted(NETWORKS))
def test_dnsmasq_starts_and_reads_every_file(state_dir, namespace, leaks, name):
    network, settings = NETWORKS[name]
    settings, paths, files = write_config(state_dir, network, settings)
    leaks.process_marker(state_dir)
    argv = dnsmasq.dnsmasq_argv(network, 'tapx', settings)
    proc = subprocess.Popen(
        ['ip', 'netns', 'exec', namespace, *argv, '--keep-in-foreground',
         '--log-facility=-', '--log-dhcp'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 5
        while not os.path.exists(paths.pid) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.02)
        time.sleep(0.3)          # let it read the hosts and options files
        assert proc.poll() is None
        proc.send_signal(signal.SIGHUP)     # the reload path re-reads them too
        time.sleep(0.2)
        assert proc.poll() is None
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=5)
    problems = [line for line in output.splitlines()
                if any(w in line.lower() for w in ('bad ', 'error', 'failed', 'illegal'))]
    assert problems == [], output
    names = 2 * len(files.addn_hosts.splitlines())      # fqdn and hostname
    assert f'read {paths.addn_hosts} - {names} names' in output, output
    assert f'read {paths.host}' in output and f'read {paths.opts}' in output, output
