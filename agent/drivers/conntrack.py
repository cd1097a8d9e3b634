"""conntrack entries in a namespace: forget the flows of a changed floating IP.

When a floating IP is moved to another fixed address or removed, existing
conntrack entries would keep NATing to the old mapping; Neutron clears them
with ``conntrack -D`` in the router namespace, and so do we.  Exit status 1
means "no entry matched", which is not an error.
"""

from __future__ import annotations

import ipaddress
import logging
import subprocess

LOG = logging.getLogger(__name__)

NO_ENTRIES_EXIT = 1


class ConntrackError(RuntimeError):
    pass


def delete_commands(ip: str) -> list[list[str]]:
    """The conntrack invocations that drop every flow to, from or replied by ``ip``."""
    address = ipaddress.ip_address(ip)
    family = 'ipv4' if address.version == 4 else 'ipv6'
    return [['conntrack', '-D', '-f', family, option, str(address)]
            for option in ('-d', '-s', '--reply-src', '--reply-dst')]


def delete_entries(namespace: str | None, ip: str) -> int:
    """Delete conntrack entries of ``ip`` in ``namespace``; return how many went."""
    deleted = 0
    for argv in delete_commands(ip):
        if namespace is not None:
            argv = ['ip', 'netns', 'exec', namespace, *argv]
        res = subprocess.run(argv, capture_output=True, text=True, check=False)
        if res.returncode not in (0, NO_ENTRIES_EXIT):
            raise ConntrackError(f'{" ".join(argv)} exited {res.returncode}: '
                                 f'{res.stderr.strip()}')
        deleted += _count(res.stderr)
    LOG.debug('%s: deleted %d conntrack entries of %s', namespace, deleted, ip)
    return deleted


def _count(stderr: str) -> int:
    # "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted."
    for line in stderr.splitlines():
        if 'flow entries have been deleted' in line:
            try:
                return int(line.split(':')[-1].split()[0])
            except (ValueError, IndexError):
                return 0
    return 0
