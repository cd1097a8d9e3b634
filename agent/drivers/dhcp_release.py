"""``dhcp_release`` / ``dhcp_release6`` in a namespace: make dnsmasq drop one lease.

Both tools (Debian package ``dnsmasq-utils``) send a DHCPRELEASE (DHCPv6
RELEASE) from the DHCP device as if the client sent it; the running dnsmasq
removes the lease and rewrites its lease file, so the address can be handed to
another MAC at once (neutron/privileged/agent/linux/dhcp.py).  A missing tool
is logged once and treated as "not released": the caller retries and warns.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import subprocess
import threading

LOG = logging.getLogger(__name__)

RELEASE_TIMEOUT = 5.0


def release_v4_argv(iface: str, ip: str, mac: str, client_id: str | None) -> list[str]:
    """``dhcp_release <iface> <ip> <mac> [client_id]``."""
    return ['dhcp_release', iface, ip, mac] + ([client_id] if client_id else [])


def release_v6_argv(iface: str, ip: str, client_id: str, server_id: str,
                    iaid: str) -> list[str]:
    """``dhcp_release6 --iface --ip --client-id --server-id --iaid``."""
    return ['dhcp_release6', '--iface', iface, '--ip', ip, '--client-id', client_id,
            '--server-id', server_id, '--iaid', iaid]


class DhcpReleaseDriver:
    """Runs the release tools with ``ip netns exec <ns>``; never through a shell."""

    def __init__(self):
        self._missing: set[str] = set()
        self._lock = threading.Lock()

    def _available(self, tool: str) -> bool:
        if shutil.which(tool) is not None:
            return True
        with self._lock:
            if tool not in self._missing:
                self._missing.add(tool)
                LOG.warning('%s not found (Debian package dnsmasq-utils): stale leases '
                            'are not released', tool)
        return False

    def _run(self, namespace: str, argv: list[str]) -> bool:
        if not self._available(argv[0]):
            return False
        full = ['ip', 'netns', 'exec', namespace, *argv]
        LOG.debug('%s', shlex.join(full))
        try:
            res = subprocess.run(full, capture_output=True, text=True, check=False,
                                 timeout=RELEASE_TIMEOUT)
        except subprocess.TimeoutExpired:
            LOG.warning('%s timed out', shlex.join(full))
            return False
        if res.returncode != 0:
            LOG.warning('%s exited %d: %s', shlex.join(full), res.returncode,
                        res.stderr.strip())
            return False
        return True

    def release_v4(self, namespace: str, iface: str, ip: str, mac: str,
                   client_id: str | None = None) -> bool:
        return self._run(namespace, release_v4_argv(iface, ip, mac, client_id))

    def release_v6(self, namespace: str, iface: str, ip: str, client_id: str,
                   server_id: str, iaid: str) -> bool:
        return self._run(namespace, release_v6_argv(iface, ip, client_id, server_id, iaid))
