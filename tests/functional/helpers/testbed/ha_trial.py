"""One fault of an HA router's primary under pings, measured: what the fault tests
assert on and what tools/bench-ha-failover.py prints.

:func:`run` waits for the router's one primary (the controller agreeing), starts
the pingers, injects the fault (helpers/testbed/ha_faults.py) into the primary,
waits for exactly one primary on another node (none for ``agent-restart``; for
``vrrp-partition``, both nodes claiming it while VRRP is dropped, then one once
it is allowed again), puts the hurt node back in service, waits for the pings
to be answered again and stops them.
"""

from __future__ import annotations

import dataclasses
import time

from tests.functional.helpers.host import wait_for
from tests.functional.helpers.testbed import ha_faults, ha_primary
from tests.functional.helpers.testbed import router_scenario as rs
from tests.functional.helpers.testbed.pinger import PingLog

FAILOVER_TIMEOUT = 60.0     # seconds from the fault to one new primary, at most
NO_FAILOVER_WATCH = 8.0     # seconds agent-restart is watched for a failover


@dataclasses.dataclass(frozen=True)
class Trial:
    fault: str
    hurt: str                   # the node the fault hit (the primary before)
    primary: str                # the one primary afterwards
    failover: float | None      # fault (partition: its end) -> one new primary, seconds
    logs: tuple                 # PingLog: VM -> outside (SNAT), outside -> floating IP
    since: float                # time.time() the pings are judged from
    healed: float               # time.time() of the fault (a partition: its end)
    keepalived_before: tuple    # the hurt node's keepalived pids before and after
    keepalived_after: tuple
    both_claimed: bool = False  # vrrp-partition: both nodes were primary meanwhile
    vrrp_dropped: int = 0       # vrrp-partition: VRRP packets the fabric dropped
    warnings: int = 0           # vrrp-partition: the controller's split-brain warnings

    def lost_seconds(self) -> tuple:
        return tuple(log.lost_seconds(self.since) for log in self.logs)

    def lost_after_heal(self) -> tuple:
        """vrrp-partition: seconds of pings lost once VRRP was allowed again (the
        rest were lost during the split brain)."""
        return tuple(log.lost_seconds(self.healed) for log in self.logs)

    def summary(self) -> str:
        took = 'no failover' if self.failover is None else \
            f'{self.primary} primary {self.failover:.1f} s later'
        text = (f'{self.fault} on {self.hurt}: {took}; SNAT '
                f'{self.logs[0].summary(self.since)}; floating IP '
                f'{self.logs[1].summary(self.since)}')
        if self.fault == 'vrrp-partition':
            text += ('; lost once VRRP was allowed again: '
                     + ', '.join(f'{s:.1f} s' for s in self.lost_after_heal()))
        return text


def settle(bed, scenario, timeout: float = 60.0) -> str:
    """The router's one primary, once the controller says so."""
    primary = ha_primary.wait_single_primary(bed, scenario.router_id, scenario.gateway_ip,
                                             timeout).node
    ha_primary.wait_controller_states(bed, scenario.router_id, primary, timeout)
    return primary


def _pingers(bed, scenario, directory):
    pingers = rs.Pingers.start(bed, scenario, directory)
    try:
        wait_for(lambda: all(p.log().received for p in pingers.both()), 30, 0.1,
                 'both pingers answered')
    except BaseException:
        pingers.stop()
        raise
    return pingers


def _watch_no_failover(bed, scenario, primary: str) -> None:
    deadline = time.monotonic() + NO_FAILOVER_WATCH
    while time.monotonic() < deadline:
        found = ha_primary.primaries(bed, scenario.router_id, scenario.gateway_ip)
        assert found == [primary], f'primary {primary} restarting its agent: {found}'
        time.sleep(0.5)


def run(bed, scenario, fault: str, directory: str) -> Trial:
    rid, vip = scenario.router_id, scenario.gateway_ip
    hurt = settle(bed, scenario)
    claimed: list = []
    warned = len(ha_primary.split_brain_warnings(bed, rid))

    def both_claim():
        claimed.append(bool(wait_for(lambda: len(ha_primary.primaries(bed, rid, vip)) == 2,
                                     ha_faults.PARTITION - 2, 0.2,
                                     'both nodes claiming the router')))
        claimed.append(ha_faults.dropped_vrrp(bed))
        # Both agents report active: the controller warns of the split brain.
        claimed.append(len(wait_for(lambda: ha_primary.split_brain_warnings(bed, rid)[
            warned:], ha_faults.PARTITION - 2, 0.2, 'the controller\'s split-brain '
            'warning')))
    pingers = _pingers(bed, scenario, directory)
    try:
        extra = {'during': both_claim} if fault == 'vrrp-partition' else {}
        injected = ha_faults.inject(bed, fault, hurt, rid, **extra)
        failover = None
        if fault in ha_faults.NO_FAILOVER:
            _watch_no_failover(bed, scenario, hurt)
        else:
            not_on = None if fault == 'vrrp-partition' else hurt
            new = ha_primary.wait_single_primary(bed, rid, vip, FAILOVER_TIMEOUT, not_on)
            failover = new.at - injected.at
        injected.recover()
        back = time.time()
        wait_for(lambda: all(p.log().answered_after(back) >= 5 for p in pingers.both()),
                 60, 0.2, 'pings answered again')
    finally:
        ha_faults.allow_vrrp(bed)
        logs: tuple[PingLog, ...] = pingers.stop()
    primary = ha_primary.wait_single_primary(bed, rid, vip, FAILOVER_TIMEOUT).node
    return Trial(fault, hurt, primary, failover, logs, injected.began - 1.0, injected.at,
                 injected.keepalived_before,
                 tuple(ha_primary.keepalived_pids(bed.nodes[hurt], rid)),
                 *claimed)
