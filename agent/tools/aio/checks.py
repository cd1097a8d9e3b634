"""End-to-end checks of the scenario, from the probe 'VM' and the outside namespace,
with the real clients: dhclient (or udhcpc), ping, curl, a tiny UDP echo that tells
the asker its source address (to see SNAT and floating IPs from the outside)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import time

from agent.common import fileutils
from agent.tools.aio import host, scenario
from agent.tools.aio.settings import Settings

ECHO_PORT = 7777
ECHO = '''\
"""UDP echo of the all-in-one: answers every datagram with the sender's address."""
import socket, sys
def serve(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    print("ready", flush=True)
    while True:
        _, peer = s.recvfrom(512)
        s.sendto(peer[0].encode(), peer)
def ask(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    for _ in range(3):
        s.sendto(b"who am i", (ip, port))
        try:
            print(s.recvfrom(512)[0].decode())
            return 0
        except socket.timeout:
            pass
    return 1
if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[2])) if sys.argv[1] == "serve"
             else ask(sys.argv[2], int(sys.argv[3])))
'''
DHCLIENT_CONF = ('timeout 15;\nretry 1;\nrequest subnet-mask, broadcast-address, routers, '
                 'domain-name, domain-name-servers, interface-mtu;\n')
TIMEOUT = float(os.environ.get('NETNODE_AIO_CHECK_TIMEOUT') or 30)


def probe_device(port: dict) -> str:
    return port.get('device') or ('prb' + port['id'])[:14]


def probe_ns(port: dict) -> str:
    return port.get('namespace') or f'qprobe-{port["id"]}'


def fixed_ip(port: dict) -> str:
    return port['fixed_ips'][0]['ip_address']


def resolv_conf(ns: str, servers) -> None:
    """The namespace's own resolv.conf (before any DHCP client runs in it, so that
    its script can never reach the machine's /etc/resolv.conf)."""
    fileutils.ensure_dir(f'/etc/netns/{ns}')
    text = ''.join(f'nameserver {x}\n' for x in servers) or 'nameserver 127.0.0.1\n'
    fileutils.write_atomic(f'/etc/netns/{ns}/resolv.conf', text)


# -- DHCP ---------------------------------------------------------------------------------------

def _dhclient(s: Settings, ns: str, dev: str) -> dict:
    work = os.path.join(s.state_dir, 'probe')
    fileutils.ensure_dir(work)
    conf, lease, pid = (os.path.join(work, n) for n in ('dhclient.conf', 'dhclient.leases',
                                                         'dhclient.pid'))
    fileutils.write_atomic(conf, DHCLIENT_CONF)
    try:
        os.unlink(lease)
    except FileNotFoundError:
        pass
    try:
        host.in_ns(ns, 'dhclient', '-1', '-4', '-sf', '/bin/true', '-cf', conf, '-lf', lease,
                   '-pf', pid, dev, timeout=40)
    finally:
        text = (fileutils.read_text(pid, '') or '').strip()
        if text.isdigit():
            try:
                os.kill(int(text), signal.SIGTERM)
            except ProcessLookupError:
                pass
    blocks = re.findall(r'lease \{(.*?)\n\}', fileutils.read_text(lease, '') or '', re.S)
    found = {}
    for line in (blocks[-1].splitlines() if blocks else ()):
        line = line.strip().rstrip(';')
        if line.startswith('fixed-address '):
            found['ip'] = line.split()[1]
        elif line.startswith('option '):
            _, name, value = line.split(None, 2)
            found[name] = value.strip('"')
    return {'ip': found.get('ip'), 'mask': found.get('subnet-mask'),
            'router': found.get('routers'), 'dns': found.get('domain-name-servers', ''),
            'server': found.get('dhcp-server-identifier'), 'client': 'dhclient'}


def _udhcpc(s: Settings, ns: str, dev: str) -> dict:
    work = os.path.join(s.state_dir, 'probe')
    fileutils.ensure_dir(work)
    out, script = os.path.join(work, 'udhcpc.env'), os.path.join(work, 'udhcpc.sh')
    fileutils.write_atomic(script, f'#!/bin/sh\n[ "$1" = bound ] && env > "{out}"\nexit 0\n',
                           mode=0o755)
    try:
        os.unlink(out)
    except FileNotFoundError:
        pass
    host.in_ns(ns, 'udhcpc', '-i', dev, '-n', '-q', '-f', '-t', '10', '-T', '2', '-s',
               script, timeout=40)
    env = dict(line.split('=', 1) for line in (fileutils.read_text(out, '') or '').splitlines()
               if '=' in line)
    return {'ip': env.get('ip'), 'mask': env.get('subnet'), 'router': env.get('router'),
            'dns': env.get('dns', ''), 'server': env.get('serverid'), 'client': 'udhcpc'}


def dhcp(s: Settings, port: dict) -> str:
    """A lease for the probe's MAC; the probe is then configured from it, as a VM's
    DHCP client would (address, default route, resolv.conf)."""
    ns, dev = probe_ns(port), probe_device(port)
    resolv_conf(ns, [])
    client = _dhclient if _have('dhclient') else _udhcpc
    lease = client(s, ns, dev)
    if not lease['ip']:
        raise host.StepFailed(f'{lease["client"]} got no lease on {dev} in {ns}')
    if lease['ip'] != fixed_ip(port):
        raise host.StepFailed(f'lease {lease["ip"]} is not the port\'s {fixed_ip(port)}')
    prefix = ipaddress.ip_network(f'0.0.0.0/{lease["mask"] or "255.255.255.0"}').prefixlen
    host.in_ns(ns, 'ip', 'addr', 'replace', f'{lease["ip"]}/{prefix}', 'dev', dev, check=True)
    if lease['router']:
        host.in_ns(ns, 'ip', 'route', 'replace', 'default', 'via',
                   lease['router'].split(',')[0].split()[0], 'dev', dev, check=True)
    dns = re.split(r'[,\s]+', lease['dns'].strip()) if lease['dns'].strip() else []
    resolv_conf(ns, dns)
    return (f'{lease["client"]}: {lease["ip"]}/{prefix} router {lease["router"]} '
            f'dns {",".join(dns) or "-"} from {lease["server"]}')


def _have(program: str) -> bool:
    return any(os.access(os.path.join(d, program), os.X_OK)
               for d in os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin').split(':')
               + ['/usr/sbin', '/sbin'])


# -- reachability --------------------------------------------------------------------------------

def ping(ns: str, ip: str, timeout: float = TIMEOUT) -> str:
    def once():
        res = host.in_ns(ns, 'ping', '-c', '1', '-W', '1', ip, timeout=10)
        match = re.search(r'time=([\d.]+ ms)', res.stdout)
        return match.group(1) if res.returncode == 0 and match else None
    return f'{ns} -> {ip}: {host.wait_for(once, timeout, 0.2, f"ping {ip} from {ns}")}'


def echo_script(s: Settings) -> str:
    path = os.path.join(s.state_dir, 'udp-echo.py')
    if fileutils.read_text(path) != ECHO:
        fileutils.write_atomic(path, ECHO)
    return path


def start_echo(s: Settings) -> subprocess.Popen:
    """The UDP echo in the outside namespace (its command line holds the state dir)."""
    proc = subprocess.Popen(['ip', 'netns', 'exec', s.outside_ns, sys.executable,
                             echo_script(s), 'serve', str(ECHO_PORT)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True, text=True)
    if proc.stdout.readline().strip() != 'ready':
        raise host.StepFailed('the UDP echo in the outside namespace did not start')
    return proc


def stop_echo(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def source_seen_outside(s: Settings, ns: str, expect: str, timeout: float = TIMEOUT) -> str:
    """Ask the outside's echo from ``ns`` until it reports ``expect`` as the source."""
    seen = []

    def once():
        res = host.in_ns(ns, sys.executable, echo_script(s), 'ask', scenario.PUBLIC_GATEWAY,
                         ECHO_PORT, timeout=15)
        seen.append(res.stdout.strip() or '(no answer)')
        return res.stdout.strip() == expect
    try:
        host.wait_for(once, timeout, 0.2, f'the outside to see {expect}')
    except host.StepFailed as exc:
        raise host.StepFailed(f'{exc}; it saw {seen[-1] if seen else "nothing"}') from None
    return f'the outside sees {expect}'


def router_gateway_ip(client, router_id: str) -> str:
    rtr = client.show('router', 'routers', router_id)
    ips = [ip['ip_address'] for ip in
           (rtr.get('external_gateway_info') or {}).get('external_fixed_ips') or ()]
    if not ips:
        raise host.StepFailed(f'router {router_id} has no external address')
    return ips[0]


def snat(s: Settings, client, port: dict, router_id: str) -> str:
    gw = router_gateway_ip(client, router_id)
    first = ping(probe_ns(port), scenario.PUBLIC_GATEWAY)
    seen = source_seen_outside(s, probe_ns(port), gw)
    return f'{first}; UDP to {scenario.PUBLIC_GATEWAY}:{ECHO_PORT}: {seen} (router gateway)'


def metadata(port: dict, timeout: float = TIMEOUT, name: str = scenario.PROBE) -> str:
    url = 'http://169.254.169.254/openstack/latest/meta_data.json'
    got = []

    def once():
        res = host.in_ns(probe_ns(port), 'curl', '-s', '-m', '5', '-w', '\n%{http_code}',
                         url, timeout=15)
        body, _, code = res.stdout.rpartition('\n')
        got.append(f'HTTP {code or "-"} {body[:200]}')
        if code != '200':
            return None
        try:
            doc = json.loads(body)
        except ValueError:
            return None
        return doc if doc.get('name') == name else None
    try:
        doc = host.wait_for(once, timeout, 0.5, 'meta_data.json')
    except host.StepFailed as exc:
        raise host.StepFailed(f'{exc}; last answer: {got[-1] if got else "-"}') from None
    return f'curl {url}: name={doc.get("name")} uuid={doc.get("uuid")}'


def floating_ip(s: Settings, port: dict, fip: dict, timeout: float = TIMEOUT) -> str:
    address = fip['floating_ip_address']
    reach = ping(s.outside_ns, address, timeout)
    seen = source_seen_outside(s, probe_ns(port), address, timeout)
    return f'{address} -> {fixed_ip(port)}: {reach}; from the probe {seen}'


def settle(seconds: float) -> None:
    time.sleep(seconds)
