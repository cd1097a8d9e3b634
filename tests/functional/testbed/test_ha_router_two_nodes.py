"""An HA router on two network nodes of the test bed (helpers/testbed): the
controller schedules it to both L3 agents, each runs keepalived in its own
qrouter- namespace over the HA network (a VLAN on the fabric); one is primary
and holds the router's address, the other is backup, and the controller shows
that.  Killing the primary's keepalived makes the other one primary.
(The fault matrix with a pinger is tests/functional/testbed/test_router_faults.py.)
"""

import json
import os
import signal

import pytest

from agent.common import names
from agent.l3 import keepalived
from tests.functional.helpers.host import wait_for

pytestmark = pytest.mark.functional

ADVERT = 1
TAKEOVER = 40         # 3 adverts + skew, on a shared machine: generous


@pytest.fixture(scope='module')
def bed(testbed_factory):
    return testbed_factory(
        'h', network_nodes=('net1', 'net2'), agents=('l3',),
        server_conf='l3_ha = true\nmax_l3_agents_per_router = 2',
        agent_conf=f'ha_vrrp_advert_int = {ADVERT}')


def ha_settings(node):
    return keepalived.HaSettings(os.path.join(node.state_path, 'ha_confs'))


def state(node, router_id):
    try:
        with open(keepalived.state_path(ha_settings(node), router_id)) as f:
            return f.read()
    except FileNotFoundError:
        return None


def addresses(node, ns):
    out = node.run('ip', 'netns', 'exec', ns, 'ip', '-j', 'addr', 'show', check=False)
    if out.returncode:
        return set()
    return {f'{a["local"]}/{a["prefixlen"]}' for link in json.loads(out.stdout)
            for a in link.get('addr_info', ()) if a.get('family') == 'inet'}


def keepalived_pid(node, router_id):
    try:
        with open(keepalived.pid_file_path(ha_settings(node), router_id)) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def ha_states(bed, router_id):
    agents = bed.api('GET', f'/routers/{router_id}/l3-agents')['agents']
    return {a['host']: a['ha_state'] for a in agents}


def primary_and_backup(bed, router_id):
    by_state = {}
    for node in bed.nodes.values():
        by_state.setdefault(state(node, router_id), []).append(node)
    if len(by_state.get('primary', ())) == 1 and len(by_state.get('backup', ())) == 1:
        return by_state['primary'][0], by_state['backup'][0]
    return None


def test_one_primary_one_backup_and_failover_when_keepalived_dies(bed):
    net = bed.api('POST', '/networks', {'network': {'name': 'hal'}})['network']
    subnet = bed.api('POST', '/subnets', {'subnet': {
        'network_id': net['id'], 'cidr': '10.66.0.0/24', 'ip_version': 4,
        'name': 'hal'}})['subnet']
    router = bed.api('POST', '/routers', {'router': {'name': 'hal'}})['router']
    assert router['ha'] is True
    rid = router['id']
    bed.api('PUT', f'/routers/{rid}/add_router_interface', {'subnet_id': subnet['id']})
    ns = names.router_namespace(rid)

    primary, backup = wait_for(lambda: primary_and_backup(bed, rid), 90, 0.5,
                               'one primary and one backup')
    vip = next(a for a in addresses(primary, ns) if a.startswith('169.254.0.'))
    assert '10.66.0.1/24' in addresses(primary, ns)
    assert '10.66.0.1/24' not in addresses(backup, ns) and vip not in addresses(backup, ns)
    wait_for(lambda: ha_states(bed, rid) == {primary.host: 'active',
                                             backup.host: 'standby'}, 30, 0.5,
             'the controller showing active and standby')

    # -- keepalived of the primary killed: the backup takes over
    os.kill(keepalived_pid(primary, rid), signal.SIGKILL)
    wait_for(lambda: state(backup, rid) == 'primary'
             and '10.66.0.1/24' in addresses(backup, ns), TAKEOVER, 0.2,
             'the backup taking over')
    wait_for(lambda: primary_and_backup(bed, rid) == (backup, primary), TAKEOVER, 0.5,
             'the old primary back as backup (keepalived respawned, nopreempt)')
    assert '10.66.0.1/24' not in addresses(primary, ns)
    wait_for(lambda: ha_states(bed, rid) == {backup.host: 'active',
                                             primary.host: 'standby'}, 30, 0.5,
             'the controller following the failover')
    bed.api('PUT', f'/routers/{rid}/remove_router_interface', {'subnet_id': subnet['id']})
    bed.api('DELETE', f'/routers/{rid}')
    for node in bed.nodes.values():
        wait_for(lambda n=node: ns not in n.netns_list()
                 and not os.path.exists(keepalived.conf_dir(ha_settings(n), rid)), 60,
                 0.3, f'the router gone from {node.name}')
