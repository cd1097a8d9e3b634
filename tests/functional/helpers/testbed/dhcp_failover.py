"""A DHCP client in a probe of the test bed, and the failover of its server's node:
dhclient runs in the foreground with a script that configures the address (so it
renews by unicast, as a VM does) and logs each event with its time, server and
lease; :func:`kill_serving_node` kills the node whose server the client renews
from and waits for the other node to renew the lease."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import tempfile
import time

from tests.functional.helpers.host import pids_with, wait_for

SCRIPT = """#!/bin/sh
case "$reason" in
BOUND|RENEW|REBIND|REBOOT)
    ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface"
    ;;
EXPIRE|FAIL|RELEASE|STOP)
    ip addr flush dev "$interface"
    ;;
esac
server=${new_dhcp_server_identifier:-}
echo "$(date +%s.%N) $reason ${new_ip_address:-} $server ${new_dhcp_lease_time:-}" >> "{log}"
exit 0
"""
HOLDING = ('BOUND', 'RENEW', 'REBIND', 'REBOOT')
LOST = ('EXPIRE', 'FAIL', 'RELEASE')


@dataclasses.dataclass(frozen=True)
class Event:
    at: float           # time.time()
    reason: str         # dhclient's: BOUND, RENEW, REBIND, EXPIRE, ...
    address: str
    server: str
    lease: int


class Dhclient:
    """dhclient on device ``probe`` of a probe of ``bed``; its files in a directory
    ``netnode-dhclient-*`` (the leak check's marker for DHCP clients)."""

    def __init__(self, bed, probe: str):
        self.dir = tempfile.mkdtemp(prefix='netnode-dhclient-')
        self.log = os.path.join(self.dir, 'events')
        script, conf = (os.path.join(self.dir, n) for n in ('script', 'conf'))
        with open(script, 'w') as f:
            f.write(SCRIPT.replace('{log}', self.log))
        os.chmod(script, 0o755)
        with open(conf, 'w') as f:
            f.write('timeout 30;\nretry 1;\nrequest subnet-mask, routers, '
                    'domain-name-servers;\n')
        self.proc = subprocess.Popen(bed.in_probe(
            probe, 'dhclient', '-4', '-d', '-sf', script, '-cf', conf,
            '-lf', os.path.join(self.dir, 'leases'), '-pf', os.path.join(self.dir, 'pid'),
            probe), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def events(self) -> list[Event]:
        try:
            with open(self.log) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        found = []
        for line in lines:
            fields = line.split()
            if len(fields) == 5:
                found.append(Event(float(fields[0]), fields[1], fields[2], fields[3],
                                   int(fields[4])))
            elif len(fields) >= 2:
                found.append(Event(float(fields[0]), fields[1], '', '', 0))
        return found

    def first(self, reasons, after: float = 0.0, server: str | None = None):
        return next((e for e in self.events() if e.reason in reasons and e.at > after
                     and (server is None or e.server == server)), None)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for pid in pids_with(self.dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclasses.dataclass(frozen=True)
class Failover:
    victim: str             # the node killed
    survivor: str
    renewed_after: float    # seconds from the kill to the survivor's renewal
    longest_gap: float      # longest time between two renewals
    events: tuple[Event, ...]

    def lapses(self) -> list[tuple[Event, Event]]:
        """Consecutive renewals where the lease ran out before the next one."""
        held = [e for e in self.events if e.reason in HOLDING]
        return [(a, b) for a, b in zip(held, held[1:]) if b.at >= a.at + a.lease]


def kill_serving_node(bed, client: Dhclient, servers: dict[str, str], timeout: float,
                      renewal_timeout: float) -> Failover:
    """Once the client has renewed from its server, kill that server's node (by node
    name in ``servers``: node -> server address) and wait for a renewal from another."""
    first = wait_for(lambda: client.first(('BOUND',)), timeout, 0.2, 'the first lease')
    wait_for(lambda: client.first(('RENEW',), first.at), renewal_timeout, 0.2,
             'a renewal before the failure')
    victim = next(n for n, address in servers.items() if address == first.server)
    survivor = next(n for n in servers if n != victim)
    killed_at = time.time()
    bed.kill_node(victim)
    renewed = wait_for(lambda: client.first(HOLDING, killed_at, servers[survivor]),
                       first.lease, 0.2, 'a renewal from the surviving node')
    # ... and the next one from it too (it is the client's server now).
    wait_for(lambda: client.first(('RENEW',), renewed.at, servers[survivor]),
             renewal_timeout, 0.2, 'the next renewal from the surviving node')
    events = tuple(client.events())
    held = [e for e in events if e.reason in HOLDING]
    return Failover(victim, survivor, renewed.at - killed_at,
                    max(b.at - a.at for a, b in zip(held, held[1:])), events)
