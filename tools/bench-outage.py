#!/usr/bin/env python3
"""Benchmark of the REST API during a broker outage, on real parts.

A private RabbitMQ node (its own node name and ports; the machine's broker is never
touched) under a controller, an L3 agent and a DHCP agent (all removed at the end).
The node is killed; then, through REST, ``--ports`` ports on a DHCP network, a
router with an interface and a gateway, and a floating IP per port.  Printed:

- the answer time of each kind of call during the outage (median, worst);
- the server's thread count before and at most during the outage;
- once the node is started again: seconds until every port is in dnsmasq's host
  file and every floating IP's DNAT is in the router's namespace.

Issue 11's target: every call answers at once (a request waits for its own casts
at most 0.25 s, and not at all once the outage is noticed).  A call
that gets no answer within 60 s is reported as such (the code before the fix
answered only once the broker was back).  Prints figures; asserts nothing.

    sudo .venv/bin/python tools/bench-outage.py [--ports 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import urllib.error
import uuid

from benchlib import machine  # noqa: I100 - first: puts the repository on sys.path

from tests.functional.helpers import outage  # noqa: E402


def report(made: outage.Made, threads_before: int) -> None:
    kinds: dict[str, list[float]] = {}
    for label, seconds in made.calls:
        kinds.setdefault(label, []).append(seconds)
    print('REST answer time during the outage:')
    for label, figures in kinds.items():
        print(f'   {label}: {len(figures)} calls, median '
              f'{statistics.median(figures) * 1000:.0f} ms, worst {max(figures) * 1000:.0f} ms')
    print(f'server threads: {threads_before} before the outage, at most '
          f'{max(made.threads)} during it', flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--ports', type=int, default=20)
    args = parser.parse_args(argv)
    run_id = 'nb' + uuid.uuid4().hex[:6]
    print(machine(), flush=True)
    with outage.outage_stack(run_id, None) as (broker, stack, dhcp):
        world = outage.world_before(stack, dhcp)
        threads_before = outage.thread_count(stack.server.proc.pid)
        broker.stop()
        down = time.monotonic()
        try:
            made = outage.during_outage(stack, world, args.ports)
        except (TimeoutError, urllib.error.URLError):
            print('REST during the outage: no answer within 60 s (the request waits '
                  'on the bus)', flush=True)
            made = None
        if made is not None:
            report(made, threads_before)
        broker.start()
        print(f'broker down {time.monotonic() - down:.1f} s (its restart included)',
              flush=True)
        if made is not None:
            seconds = outage.wait_reached(dhcp, world, made)
            print(f'after the restart: everything on the agents in {seconds:.1f} s',
                  flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
