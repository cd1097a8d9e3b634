#!/usr/bin/env python3
"""Benchmark HA router failover on the multi-node test bed; prints figures, asserts
nothing.

    sudo .venv/bin/python tools/bench-ha-failover.py [--runs 5] [--faults a,b] [--advert-int 2]

A test bed (tests/functional/helpers/testbed: controller node, network nodes net1
and net2 with their L3 agents, compute node, outside namespace) with one HA router
(tenant VLAN network, gateway, floating IP of a VM on the compute node).  Each
run puts the router's primary node through every fault of
tests/functional/helpers/testbed/ha_faults.py while a VM pings the outside
through SNAT and the outside pings the floating IP, 10 per second each; after
each fault the hurt node is put back in service.  Per fault: the failover time
(fault -> exactly one primary on another node; for the VRRP partition: VRRP
allowed again -> one primary) and the seconds of pings lost each way (min /
median / max), against the target: one primary within 3 x advert_int + 1 s and
at most 10 s of lost pings.  Also the test bed's up and down times, the CPU
seconds of the agents and keepalived, and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid

from benchlib import machine  # noqa: I100 - first: puts the repository on sys.path

from tests.functional.helpers.testbed import TestBed  # noqa: E402
from tests.functional.helpers.testbed import ha_faults, ha_trial  # noqa: E402
from tests.functional.helpers.testbed import router_scenario as rs  # noqa: E402
from tests.functional.helpers.testbed.ha_primary import processes  # noqa: E402

MAX_LOST = 10.0         # seconds of pings lost per direction (the target)


def cpu_seconds(markers) -> float:
    """utime + stime of the live processes whose command line holds ``markers``."""
    total = 0.0
    ticks = os.sysconf('SC_CLK_TCK')
    for program in ('netnode-l3-agent', 'keepalived', 'netnode-server'):
        for pid in processes(program, *markers):
            try:
                with open(f'/proc/{pid}/stat') as f:
                    fields = f.read().rsplit(')', 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / ticks
            except (OSError, IndexError, ValueError):
                pass
    return total


def spread(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return '-'
    return (f'{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}')


def report(trials, advert_int) -> None:
    target = 3 * advert_int + 1
    print(f'\nper fault over {max((len(r) for r in trials.values()), default=0)} runs '
          f'(min / median / max); target: one primary within {target} s, at most '
          f'{MAX_LOST:.0f} s of pings lost each way')
    print(f'{"fault":24} {"failover s":>18} {"lost s (SNAT)":>18} '
          f'{"lost s (floating IP)":>21}  target')
    for fault, runs in trials.items():
        failover = [t.failover for t in runs]
        snat = [t.lost_seconds()[0] for t in runs]
        fip = [t.lost_seconds()[1] for t in runs]
        judged, note = snat + fip, ''
        if fault == 'vrrp-partition':
            # Judged on what follows the partition: during it both nodes forward.
            judged = [max(t.lost_after_heal()) for t in runs]
            note = (f' (pings lost once VRRP was allowed again, worse direction: '
                    f'{spread(judged)} s; the rest during the 20 s split brain)')
        elif fault in ha_faults.NO_FAILOVER:
            moved = sum(1 for t in runs if t.primary != t.hurt)
            kept = sum(1 for t in runs if t.keepalived_after == t.keepalived_before)
            note = (f' (no failover expected: {moved} moved, keepalived pid kept '
                    f'{kept}/{len(runs)})')
        worst = max((f for f in failover if f is not None), default=0.0)
        met = worst <= target and max(judged) <= MAX_LOST
        print(f'{fault:24} {spread(failover):>18} {spread(snat):>18} {spread(fip):>21}  '
              f'{"met" if met else "MISSED"}{note}')

def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--faults', default=','.join(ha_faults.FAULTS),
                        help='comma-separated, of: ' + ', '.join(ha_faults.FAULTS))
    parser.add_argument('--advert-int', type=int, default=2,
                        help='ha_vrrp_advert_int of the L3 agents (s)')
    args = parser.parse_args()
    faults = [f for f in args.faults.split(',') if f]
    unknown = set(faults) - set(ha_faults.FAULTS)
    if unknown:
        parser.error(f'unknown fault(s): {", ".join(sorted(unknown))}')
    if os.geteuid() != 0:
        parser.error('needs root')
    print(machine())
    prefix = 'hb' + uuid.uuid4().hex[:6]
    base = tempfile.mkdtemp(prefix=f'netnode-{prefix}-')
    bed = TestBed(base, prefix, agents=('l3',),
                  agent_conf=f'ha_vrrp_advert_int = {args.advert_int}')
    trials = {f: [] for f in faults}
    cpu_start = None
    try:
        bed.up()
        print(f'test bed up in {bed.timings["up"]:.1f} s (load average '
              f'{" ".join(f"{x:.1f}" for x in os.getloadavg())})', flush=True)
        scenario = rs.build(bed, 'vm', ha=True)
        rs.wait_reachable(bed, scenario)
        cpu_start, wall_start = cpu_seconds([base]), time.monotonic()
        for run in range(1, args.runs + 1):
            for fault in faults:
                trial = ha_trial.run(bed, scenario, fault,
                                     os.path.join(base, 'pings', f'{run}-{fault}'))
                trials[fault].append(trial)
                print(f'run {run}: {trial.summary()} (load '
                      f'{os.getloadavg()[0]:.1f})', flush=True)
        cpu = cpu_seconds([base]) - cpu_start
        wall = time.monotonic() - wall_start
    finally:
        ha_faults.allow_vrrp(bed)
        down = bed.down()
    print(f'test bed down in {down:.1f} s')
    report(trials, args.advert_int)
    print(f'\nCPU of the L3 agents, keepalived and the controller during the faults: '
          f'{cpu:.1f} s over {wall:.0f} s wall (processes restarted by a fault count '
          f'from their start); load average {" ".join(f"{x:.1f}" for x in os.getloadavg())}')


if __name__ == '__main__':
    main()
