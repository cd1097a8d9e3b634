"""Real DHCP and DNS clients run inside probe namespaces, for the functional tests.

dhclient and udhcpc only report what they were given: dhclient writes a lease
file (``-sf /bin/true``: nothing is configured), udhcpc runs a script that dumps
its environment.  Neither touches the machine's resolv.conf: a namespace has
its own ``/etc/netns/<ns>/resolv.conf``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time

from tests.functional.helpers.host import pids_with

DHCLIENT_CONF = """timeout 15;
retry 1;
request subnet-mask, broadcast-address, routers, domain-name,
        domain-name-servers, interface-mtu, ntp-servers;
"""
DHCLIENT6_CONF = 'timeout 15;\nretry 1;\n'
UDHCPC_SCRIPT = '#!/bin/sh\n[ "$1" = bound ] && env > "{out}"\nexit 0\n'


def _netns(ns, *argv, timeout=30):
    return subprocess.run(['ip', 'netns', 'exec', ns, *argv], capture_output=True,
                          text=True, timeout=timeout)


def resolv_conf(ns, nameserver):
    os.makedirs(f'/etc/netns/{ns}', exist_ok=True)
    with open(f'/etc/netns/{ns}/resolv.conf', 'w') as f:
        f.write(f'nameserver {nameserver}\noptions timeout:1 attempts:2\n')


def parse_dhclient_lease(text):
    """The last lease block as {'fixed-address': ..., 'routers': ..., ...}."""
    blocks = re.findall(r'lease \{(.*?)\n\}', text, re.S)
    if not blocks:
        return {}
    result = {}
    for line in blocks[-1].splitlines():
        line = line.strip().rstrip(';')
        if line.startswith('fixed-address '):
            result['fixed-address'] = line.split()[1]
        elif line.startswith('option '):
            _, name, value = line.split(None, 2)
            result[name] = value.strip('"')
    return result


def _own_resolv_conf(ns):
    if not os.path.exists(f'/etc/netns/{ns}/resolv.conf'):
        resolv_conf(ns, '127.0.0.1')


def _dhclient_once(ns, dev, family, conf_text, timeout):
    """dhclient ``-1 -4``/``-6`` in ``ns`` with a script that does nothing and its
    conf, lease and pid files in a temporary directory; the lease file's text."""
    _own_resolv_conf(ns)
    with tempfile.TemporaryDirectory(prefix='netnode-dhclient-') as tmp:
        conf, lease, pid = (os.path.join(tmp, n) for n in ('dhclient.conf', 'leases', 'pid'))
        with open(conf, 'w') as f:
            f.write(conf_text)
        try:
            _netns(ns, 'dhclient', '-1', family, '-sf', '/bin/true', '-cf', conf, '-lf',
                   lease, '-pf', pid, dev, timeout=timeout)
        finally:
            # After a lease dhclient stays in the background to renew it, and may
            # write its pid file after the foreground process returned: end every
            # process of this run by the temporary directory in its command line.
            for leftover in pids_with(tmp):
                try:
                    os.kill(leftover, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            with open(lease) as f:
                return f.read()
        except FileNotFoundError:
            return ''


def dhclient(ns, dev, timeout=30):
    """Run dhclient once in ``ns``; the parsed lease ({} if none)."""
    return parse_dhclient_lease(_dhclient_once(ns, dev, '-4', DHCLIENT_CONF, timeout))


def wait_link_local(ns, dev, timeout=10.0):
    """Wait until ``dev`` has a link-local IPv6 address past DAD (dhclient -6 needs it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = _netns(ns, 'ip', '-6', 'addr', 'show', 'dev', dev, 'scope', 'link').stdout
        if 'inet6 fe80' in out and 'tentative' not in out:
            return True
        time.sleep(0.05)
    return False


def dhclient6(ns, dev, timeout=30):
    """``dhclient -6`` (stateful) once in ``ns``: {'iaaddr': ..., 'lease': text} or {}."""
    wait_link_local(ns, dev)
    text = _dhclient_once(ns, dev, '-6', DHCLIENT6_CONF, timeout)
    found = re.findall(r'iaaddr (\S+) \{', text)
    return {'iaaddr': found[-1], 'lease': text} if found else {}


def udhcpc(ns, dev, tries=3, timeout=30):
    """Run udhcpc once in ``ns``; the environment its script saw ({} if no lease)."""
    _own_resolv_conf(ns)
    with tempfile.TemporaryDirectory(prefix='netnode-udhcpc-') as tmp:
        out, script = os.path.join(tmp, 'env'), os.path.join(tmp, 'script')
        with open(script, 'w') as f:
            f.write(UDHCPC_SCRIPT.format(out=out))
        os.chmod(script, 0o755)
        _netns(ns, 'udhcpc', '-i', dev, '-n', '-q', '-f', '-t', str(tries), '-T', '1',
               '-O', 'mtu', '-O', 'domain', '-s', script, timeout=timeout)
        try:
            with open(out) as f:
                return dict(line.split('=', 1) for line in f.read().splitlines()
                            if '=' in line)
        except FileNotFoundError:
            return {}


def resolve(ns, name):
    """``getent hosts name`` inside ``ns`` (its resolv.conf): the address or None."""
    res = _netns(ns, 'getent', 'hosts', name, timeout=15)
    return res.stdout.split()[0] if res.returncode == 0 and res.stdout.strip() else None
