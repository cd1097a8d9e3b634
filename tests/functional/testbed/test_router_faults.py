"""Routers under faults on the multi-node test bed (helpers/testbed): a VM on the
compute node pings the outside world through SNAT and the outside world pings its
floating IP, 10 per second each way, while a node is hurt.

The legacy router proves the pinger and the harness: a known outage (the hosting
node's external NIC down for a few seconds) is measured as such, and an L3 agent
restart loses nothing.  The HA router then goes through each fault of
helpers/testbed/ha_faults.py; after each one exactly one node holds the router,
the controller's ha_state agrees, and the pings lost stay under a generous bound
(this machine is shared; tools/bench-ha-failover.py prints the real figures).
"""

import time

import pytest

from agent.common import names
from tests.functional.helpers.host import wait_for
from tests.functional.helpers.testbed import ha_faults, ha_primary, ha_trial
from tests.functional.helpers.testbed import router_scenario as rs

pytestmark = pytest.mark.functional

NIC_DOWN = 3.0          # seconds the legacy router's node loses its external NIC


@pytest.fixture(scope='module')
def bed(testbed_factory):
    return testbed_factory('r', network_nodes=('net1', 'net2'), agents=('l3',))


@pytest.fixture(scope='module')
def legacy(bed):
    scenario = rs.build(bed, 'vmleg', ha=False, cidr='10.67.0.0/24', gateway='10.67.0.1')
    rs.wait_reachable(bed, scenario)
    return scenario


def hosting_node(bed, router_id):
    ns = names.router_namespace(router_id)
    found = [name for name, node in bed.nodes.items() if ns in node.netns_list()]
    assert len(found) == 1, found
    return found[0]


def test_pinger_measures_a_known_outage_of_a_legacy_router(bed, legacy, tmp_path):
    node = bed.nodes[hosting_node(bed, legacy.router_id)]
    pingers = rs.Pingers.start(bed, legacy, str(tmp_path))
    try:
        wait_for(lambda: all(p.log().received for p in pingers.both()), 30, 0.1,
                    'both pingers answered')
        time.sleep(1)
        down_at = time.time()
        node.run('ip', 'link', 'set', rs.EXTERNAL_NIC, 'down')
        time.sleep(NIC_DOWN)
        node.run('ip', 'link', 'set', rs.EXTERNAL_NIC, 'up')
        up_at = time.time()
        time.sleep(3)
    finally:
        logs = pingers.stop()
    for pinger, log in zip(pingers.both(), logs):
        assert log.lost(before=down_at - 0.5) == [], (pinger.name, log.summary())
        outages = log.outages(down_at - 0.5)
        assert len(outages) == 1, (pinger.name, outages)
        # The outage is the window the NIC was down (give or take a second for the
        # requests in flight and the timers of a loaded machine)...
        assert outages[0].start >= down_at - 0.5, (pinger.name, outages, down_at)
        assert abs(outages[0].seconds - (up_at - down_at)) < 2.0, (pinger.name, outages)
        # ... and every request after it is answered.
        assert log.lost(after=up_at + 1.0) == [], (pinger.name, log.summary())
        print(f'\n{pinger.name}: NIC down {up_at - down_at:.1f} s, {log.summary()}')


def test_l3_agent_restart_loses_no_ping_of_a_legacy_router(bed, legacy, tmp_path):
    name = hosting_node(bed, legacy.router_id)
    pingers = rs.Pingers.start(bed, legacy, str(tmp_path))
    try:
        wait_for(lambda: all(p.log().received for p in pingers.both()), 30, 0.1,
                    'both pingers answered')
        ha_faults.inject(bed, 'agent-restart', name, legacy.router_id)
        time.sleep(3)
    finally:
        logs = pingers.stop()
    for pinger, log in zip(pingers.both(), logs):
        assert log.lost() == [], (pinger.name, log.summary())
    assert ha_primary.l3_agent_pids(bed.nodes[name])


# -- HA router ---------------------------------------------------------------------------

LOST_BOUND = 30.0       # seconds of pings lost per direction: generous, the machine is shared


@pytest.fixture(scope='module')
def ha(bed):
    scenario = rs.build(bed, 'vmha', ha=True, cidr='10.68.0.0/24', gateway='10.68.0.1')
    assert scenario.ha
    rs.wait_reachable(bed, scenario)
    return scenario


def check_one_primary(bed, ha, trial):
    """Exactly one node holds the router, the controller agrees, and the pings lost
    each way stay under LOST_BOUND."""
    found = ha_primary.primaries(bed, ha.router_id, ha.gateway_ip)
    assert found == [trial.primary], (found, trial.summary())
    assert ha_primary.holders(bed, ha.router_id, ha.gateway_ip) == found
    ha_primary.wait_controller_states(bed, ha.router_id, trial.primary, 60)
    for seconds, log in zip(trial.lost_seconds(), trial.logs):
        assert log.received
        assert seconds <= LOST_BOUND, trial.summary()
    print(f'\n{trial.summary()}')


@pytest.mark.parametrize('fault', ['ha-link-down', 'keepalived-kill',
                                   'agent-keepalived-kill', 'graceful-stop'])
def test_ha_router_fails_over_to_the_other_node(bed, ha, fault, tmp_path):
    trial = ha_trial.run(bed, ha, fault, str(tmp_path))
    # (ha_trial waits at most FAILOVER_TIMEOUT s for the one new primary)
    assert trial.failover is not None, trial.summary()
    # nopreempt: the node back in service stays a backup.
    assert trial.primary != trial.hurt, trial.summary()
    check_one_primary(bed, ha, trial)


def test_ha_router_l3_agent_restart_changes_nothing(bed, ha, tmp_path):
    trial = ha_trial.run(bed, ha, 'agent-restart', str(tmp_path))
    assert trial.failover is None and trial.primary == trial.hurt, trial.summary()
    assert trial.keepalived_after == trial.keepalived_before != ()
    check_one_primary(bed, ha, trial)
    assert max(trial.lost_seconds()) <= 1.0, trial.summary()


def test_ha_router_vrrp_partition_heals_to_one_primary(bed, ha, tmp_path):
    trial = ha_trial.run(bed, ha, 'vrrp-partition', str(tmp_path))
    assert trial.both_claimed and trial.vrrp_dropped > 0 and trial.warnings, trial
    check_one_primary(bed, ha, trial)
