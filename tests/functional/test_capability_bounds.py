"""The agents serve under exactly their systemd units' capability bounds (issue 10).

systemd is not PID 1 on these machines, so the units cannot be started: the
DHCP, L3 and metadata agents run here under ``setpriv`` with the
``CapabilityBoundingSet=`` their unit files in etc/systemd/ name, no new
privileges and the units' ``UMask=0027``.  One node: an external network with an
outside namespace, a router with a gateway and an interface on a DHCP-enabled
network, and an isolated DHCP-enabled network.  A probe on each gets a lease
from dnsmasq and its instance's metadata (through the router's haproxy and the
DHCP agent's isolated-metadata haproxy); the probe behind the router reaches the
outside through SNAT (namespaces, OVS, iptables).  dnsmasq runs as nobody and
haproxy as netnode-haproxy.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import uuid

import pytest

from tests.functional.dhcp import clients
from tests.functional.helpers.host import argvs, in_ns, wait_for
from tests.functional.l3.stack import L3Stack
from tests.functional.metadata.stack import curl, with_metadata_agent
from tests.unit.packaging.test_systemd_units import UNIT_DIR, parse_unit, words

pytestmark = pytest.mark.functional

UMASK = 0o027           # the units' UMask=


def unit_caps(name: str) -> list[str]:
    unit = parse_unit(UNIT_DIR / f'{name}.service')
    return words(unit, 'Service', 'CapabilityBoundingSet')


def setpriv(name: str) -> tuple[str, ...]:
    """The command prefix that gives a root process the unit's bound."""
    caps = ','.join('+' + c.lower().removeprefix('cap_') for c in unit_caps(name))
    return ('setpriv', f'--bounding-set=-all,{caps}', '--inh-caps=-all', '--no-new-privs',
            '--')


def proc_status(pid: int) -> dict[str, str]:
    with open(f'/proc/{pid}/status') as f:
        return dict(line.rstrip('\n').split(':\t', 1) for line in f if ':\t' in line)


def decoded(mask_hex: str) -> set[str]:
    out = subprocess.run(['capsh', f'--decode={mask_hex}'], capture_output=True,
                         text=True, check=True).stdout.strip()
    names = out.split('=', 1)[1] if '=' in out else ''
    return {n.upper() for n in names.split(',') if n}


def children(marker: str, binary: str) -> list[int]:
    # a console script's argv[0] is its interpreter
    return [pid for pid, argv in argvs()
            if any(os.path.basename(a) == binary for a in argv[:2])
            and marker in ' '.join(argv)]


class BoundedNode(L3Stack):
    """An L3 agent and a DHCP agent of one host, sharing its state_path and bridge,
    each under its unit's capability bound."""
    AGENT_PREFIX = setpriv('netnode-l3-agent')
    AGENT_UMASK = UMASK

    def __init__(self, run_id, leaks):
        super().__init__(run_id, 'cap', leaks)
        self.dhcp: subprocess.Popen | None = None
        self.dhcp_conf = os.path.join(self.base, 'dhcp_agent.ini')
        self.dhcp_log = os.path.join(self.base, 'dhcp-agent.log')

    def start(self):
        super().start()
        try:
            with open(self.agent_conf_path) as f:
                text = f.read()
            with open(self.dhcp_conf, 'w') as f:
                f.write(text.replace(f'log_file = {self.agent_log}',
                                     f'log_file = {self.dhcp_log}\n'
                                     'enable_isolated_metadata = true'))
            self.dhcp = subprocess.Popen(
                [*setpriv('netnode-dhcp-agent'), os.path.join(os.path.dirname(
                    self.AGENT_BIN), 'netnode-dhcp-agent'), '--config-file', self.dhcp_conf],
                stdout=subprocess.DEVNULL, stderr=open(self.dhcp_log + '.stderr', 'ab'),
                umask=UMASK)
            wait_for(self._dhcp_in_sync, 60, 0.1, 'the DHCP agent in sync')
        except BaseException:
            self.close()
            raise
        return self

    def _dhcp_in_sync(self):
        if self.dhcp.poll() is not None:
            raise AssertionError(f'DHCP agent exited with {self.dhcp.returncode}: '
                                 f'{self.dhcp_tail()}')
        try:
            with open(self.dhcp_log, errors='replace') as f:
                return 'in sync' in f.read()
        except FileNotFoundError:
            return False

    def dhcp_tail(self):
        text = ''
        for path in (self.dhcp_log, self.dhcp_log + '.stderr'):
            try:
                with open(path, errors='replace') as f:
                    text += f.read()
            except FileNotFoundError:
                pass
        return text[-3000:]

    def stop_agent(self, sig=signal.SIGTERM, timeout=None):
        if self.dhcp is not None and self.dhcp.poll() is None:
            self.dhcp.send_signal(signal.SIGTERM)
            try:
                self.dhcp.wait(20)
            except subprocess.TimeoutExpired:
                self.dhcp.kill()
                self.dhcp.wait()
        return super().stop_agent(sig, timeout)


@pytest.fixture(scope='module')
def node(run_id, leaks):
    with with_metadata_agent(BoundedNode(run_id, leaks).start(),
                             prefix=setpriv('netnode-metadata-agent'), umask=UMASK) as s:
        yield s


def metadata_agent_pid(s):
    pids = children(os.path.join(s.base, 'md'), 'netnode-metadata-agent')
    assert len(pids) == 1, pids
    return pids[0]


def test_agents_run_with_exactly_their_units_bounds(node):
    s = node
    for pid, unit in ((s.agent.pid, 'netnode-l3-agent'), (s.dhcp.pid, 'netnode-dhcp-agent'),
                      (metadata_agent_pid(s), 'netnode-metadata-agent')):
        status = proc_status(pid)
        assert decoded(status['CapBnd']) == set(unit_caps(unit)), unit
        assert status['NoNewPrivs'] == '1' and status['Umask'] == '0027', unit


def probe_with_lease(s, net, subnet, name):
    """A probe on ``net`` holding the lease dnsmasq gave it, and its instance."""
    ns, port, dev = s.probe(net['id'], name)
    device = str(uuid.uuid4())
    s.api('PUT', f'/ports/{port["id"]}', {'port': {'device_id': device}})
    code, _, err = s.server.cli('instance-set', device, '--hostname', f'cap-{name}')
    assert code == 0, err
    ip = port['fixed_ips'][0]['ip_address']
    os.makedirs(f'/etc/netns/{ns}', exist_ok=True)
    wait_for(lambda: (got := clients.dhclient(ns, dev)) and got.get('fixed-address') == ip,
             60, 0.5, f'a DHCP lease of {ip} for {name}')
    in_ns(ns, 'ip', 'addr', 'add', f'{ip}/24', 'dev', dev)
    return ns, device


def metadata_of(ns, device, what):
    _, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
        curl(ns, '/openstack/latest/meta_data.json')), 40, 0.3, f'metadata {what}')
    assert json.loads(body)['uuid'] == device


def test_dhcp_metadata_and_nat_under_the_bounds(node):
    s = node
    ext, _ = s.network('cap-ext', '198.51.100.0/24', '198.51.100.1', external=True)
    s.outside('198.51.100.1/24')
    net, subnet = s.network('cap-net', '10.93.0.0/24', '10.93.0.1', enable_dhcp=True)
    iso, iso_subnet = s.network('cap-iso', '10.94.0.0/24', '10.94.0.1', enable_dhcp=True)
    for n in (net, iso):
        s.ns(f'qdhcp-{n["id"]}')
    router = s.router('cap-router')
    s.add_interface(router['id'], subnet['id'])
    s.set_gateway(router['id'], ext['id'])

    # behind the router: lease, metadata through the router's proxy, SNAT outside
    ns, device = probe_with_lease(s, net, subnet, 'routed')
    in_ns(ns, 'ip', 'route', 'replace', 'default', 'via', subnet['gateway_ip'])
    metadata_of(ns, device, 'through the router')
    assert wait_for(lambda: s.ping(ns, '198.51.100.1'), 30, 0.5, 'SNAT to the outside')

    # isolated: lease, metadata through the DHCP agent's proxy in qdhcp-
    ns_iso, device_iso = probe_with_lease(s, iso, iso_subnet, 'isolated')
    dhcp_port = s.api('GET', f'/ports?network_id={iso["id"]}'
                             f'&device_owner=network:dhcp')['ports'][0]
    in_ns(ns_iso, 'ip', 'route', 'add', '169.254.169.254/32', 'via',
          dhcp_port['fixed_ips'][0]['ip_address'])
    metadata_of(ns_iso, device_iso, 'through qdhcp-')

    # the children dropped root: dnsmasq to nobody, both proxies to netnode-haproxy
    haproxy_uid = pwd.getpwnam('netnode-haproxy').pw_uid
    proxies = children(s.state_path, 'haproxy')
    assert len(proxies) >= 2, proxies
    for pid in proxies:
        assert proc_status(pid)['Uid'].split()[:2] == [str(haproxy_uid)] * 2
    dnsmasqs = children(s.state_path, 'dnsmasq')
    assert len(dnsmasqs) == 2, dnsmasqs
    for pid in dnsmasqs:
        assert proc_status(pid)['Uid'].split()[0] == str(pwd.getpwnam('nobody').pw_uid)
