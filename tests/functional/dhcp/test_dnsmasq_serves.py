"""A real DHCP exchange against dnsmasq started from the rendered argv and files.

Server and client live in namespaces of their own joined by a veth pair; the
client (busybox udhcpc) uses the VM port's MAC and must get exactly what the
host and opts files say: the address, host name, router, MTU, the classless
static routes (metadata included) and the domain.
"""

import dataclasses
import os
import shutil
import stat
import subprocess
import tempfile
import time
import uuid

import pytest

from agent.dhcp import dnsmasq
from agent.dhcp.settings import DnsmasqSettings
from tests.functional.dhcp.stack import write_dnsmasq_files
from tests.unit.dhcp import golden as g

pytestmark = pytest.mark.functional

CLIENT_SCRIPT = '''#!/bin/sh
[ "$1" = bound ] || exit 0
env | grep -E '^(ip|subnet|router|mtu|staticroutes|domain|hostname|dns|lease)=' \
    | sort > "$(dirname "$0")/bound.env"
'''


def run(*argv):
    subprocess.run(argv, check=True, capture_output=True, timeout=10)


@pytest.fixture
def state_dir(run_id):
    path = tempfile.mkdtemp(prefix=f'{run_id}-dhcp-')
    os.chmod(path, 0o755)     # dnsmasq reads its files as `nobody`
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def wire(leaks, run_id):
    """(server namespace, client namespace) joined by a veth pair."""
    tag = uuid.uuid4().hex[:8]
    server = leaks.namespace(f'nntest-{run_id}-srv-{tag}')
    client = leaks.namespace(f'nntest-{run_id}-cli-{tag}')
    made = []
    try:
        for ns in (server, client):
            run('ip', 'netns', 'add', ns)
            made.append(ns)
            run('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
        run('ip', 'link', 'add', f'nns{tag}', 'netns', server, 'type', 'veth',
            'peer', 'name', f'nnc{tag}', 'netns', client)
        run('ip', 'netns', 'exec', server, 'ip', 'link', 'set', f'nns{tag}', 'name',
            'tape9f30b29-bf', 'address', g.DHCP_PORT.mac_address, 'mtu', '1450', 'up')
        run('ip', 'netns', 'exec', server, 'ip', 'addr', 'add', '192.168.10.2/24',
            'brd', '192.168.10.255', 'dev', 'tape9f30b29-bf')
        run('ip', 'netns', 'exec', client, 'ip', 'link', 'set', f'nnc{tag}', 'name',
            'eth0', 'address', g.VM_PORT.mac_address, 'mtu', '1450', 'up')
        yield server, client
    finally:
        for ns in made:
            subprocess.run(['ip', 'netns', 'delete', ns], check=False)


def dhcp_client(client_ns, state_dir):
    script = os.path.join(state_dir, 'udhcpc.sh')
    with open(script, 'w') as f:
        f.write(CLIENT_SCRIPT)
    os.chmod(script, stat.S_IRWXU)
    res = subprocess.run(
        ['ip', 'netns', 'exec', client_ns, 'udhcpc', '-i', 'eth0', '-n', '-q', '-f',
         '-t', '5', '-T', '1', '-s', script, '-O', 'staticroutes', '-O', 'mtu',
         '-O', 'domain', '-O', 'hostname', '-O', 'msstaticroutes'],
        capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    with open(os.path.join(state_dir, 'bound.env')) as f:
        return dict(line.rstrip('\n').split('=', 1) for line in f if '=' in line)


@pytest.mark.parametrize('network, settings, expected_routes', [
    (g.NETWORK, DnsmasqSettings(),
     '169.254.169.254/32 192.168.10.1 0.0.0.0/0 192.168.10.1'),
    (dataclasses.replace(g.NETWORK, ports=(g.VM_PORT, g.DHCP_PORT)),
     DnsmasqSettings(enable_isolated_metadata=True),
     '169.254.169.254/32 192.168.10.2 0.0.0.0/0 192.168.10.1'),
], ids=['routed', 'isolated-metadata'])
def test_vm_gets_its_address_and_options(state_dir, wire, leaks, network, settings,
                                         expected_routes):
    server, client = wire
    settings = dataclasses.replace(settings, state_path=state_dir)
    paths, _ = write_dnsmasq_files(network, settings, 'tape9f30b29-bf', g.DHCP_PORT_ID)
    leaks.process_marker(state_dir)
    argv = dnsmasq.dnsmasq_argv(network, 'tape9f30b29-bf', settings)
    proc = subprocess.Popen(['ip', 'netns', 'exec', server, *argv, '--keep-in-foreground',
                             '--log-facility=-', '--log-dhcp'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 5
        while not os.path.exists(paths.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        got = dhcp_client(client, state_dir)
    finally:
        proc.terminate()
        log, _ = proc.communicate(timeout=5)
    assert got['ip'] == '192.168.10.93', log
    assert got['subnet'] == '255.255.255.0'
    assert got['router'] == '192.168.10.1'
    assert got['mtu'] == '1450'
    assert got['staticroutes'] == expected_routes
    assert got['domain'] == 'openstacklocal'
    assert got['hostname'] == 'host-192-168-10-93'
    assert got['lease'] == '86400'
