"""A port's extra DHCP options removed while dnsmasq serves it (real controller, agent,
OVS, dnsmasq and dhclient).

dnsmasq 2.90 segfaults on the first DHCP packet after a SIGHUP once it has answered a
client whose hosts-file line carries a ``set:`` tag (``agent.dhcp.dnsmasq.
avoid_host_tag_reload_crash``): clearing the option used to leave the network without
DHCP until the agent's process monitor respawned dnsmasq.  The agent restarts dnsmasq
for such a change instead, and keeps SIGHUP for the others.
"""

import os

import pytest

from tests.functional.dhcp import clients
from tests.functional.dhcp.stack import DhcpStack, dnsmasq_pid, wait_for

pytestmark = pytest.mark.functional

NTP = '192.0.2.123'
RESPAWNED = 'died, respawning'


def lease_where(probe, predicate, what):
    """Ask with dhclient until the lease satisfies ``predicate`` (the files are written
    just before dnsmasq re-reads them or starts again)."""
    return wait_for(lambda: (lambda got: got if got and predicate(got) else None)(
        clients.dhclient(probe['namespace'], probe['device'], timeout=10)), 30, 0.2, what)


def test_clearing_an_extra_dhcp_option_restarts_dnsmasq_without_a_crash(run_id, leaks):
    stack = DhcpStack(run_id, 'optrm', leaks).start()
    try:
        clear_option_and_churn(stack)
    finally:
        stack.close()


def clear_option_and_churn(stack):
    network, _ = stack.create_network('optrm-net', '192.168.30.0/24', '192.168.30.1')
    net_id = network['id']
    wait_for(lambda: dnsmasq_pid(stack, net_id), 10, 0.02, 'dnsmasq serving')
    probe = stack.probe_create(net_id, name='optrm-probe')
    opts = os.path.join(stack.state_path, 'dhcp', net_id, 'opts')
    host = os.path.join(stack.state_path, 'dhcp', net_id, 'host')

    set_option(stack, probe, opts)
    tagged_pid = dnsmasq_pid(stack, net_id)
    assert f'set:port-{probe["id"]}' in open(host).read()

    stack.api('PUT', f'/ports/{probe["id"]}', {'port': {'extra_dhcp_opts': []}})
    wait_for(lambda: NTP not in open(opts).read(), 10, 0.05, 'the option gone')
    assert 'set:port-' not in open(host).read()
    lease = lease_where(probe, lambda got: not got.get('ntp-servers'),
                        'a lease without ntp-servers')
    assert lease['fixed-address'] == probe_address(stack, probe)
    # a second client request: dnsmasq still answers, and nothing died on the way
    assert clients.dhclient(probe['namespace'], probe['device'], timeout=10)
    cleared_pid = dnsmasq_pid(stack, net_id)
    assert cleared_pid not in (None, tagged_pid)       # the agent's deliberate restart
    log = stack.agent_log_text()
    assert [line for line in log.splitlines() if RESPAWNED in line] == []
    assert (f'dnsmasq for {net_id} in qdhcp-{net_id}: configuration changed; a client of '
            'a port with extra DHCP options holds a lease, and a SIGHUP could crash '
            'dnsmasq 2.86-2.90, restarting' in log)

    # no tag left: the next change is a SIGHUP again, not a restart
    other = stack.api('POST', '/ports', {'port': {'network_id': net_id,
                                                  'name': 'optrm-other'}})['port']
    wait_for(lambda: other['mac_address'] in open(host).read(), 10, 0.05,
             'the new port in the hosts file')
    assert clients.dhclient(probe['namespace'], probe['device'], timeout=10)
    assert dnsmasq_pid(stack, net_id) == cleared_pid
    assert RESPAWNED not in stack.agent_log_text()

    stack.api('DELETE', f'/ports/{other["id"]}')

    # a port deleted while its option is on and its client was answered (its lease
    # is released first): a restart as well, and another client still gets a lease
    second = stack.probe_create(net_id, name='optrm-second')
    set_option(stack, probe, opts)
    stack.probe_delete(probe)
    wait_for(lambda: probe['mac_address'] not in open(host).read(), 10, 0.05,
             'the deleted port gone from the hosts file')
    assert lease_where(second, lambda got: True, 'a lease for the second probe')
    assert [line for line in stack.agent_log_text().splitlines() if RESPAWNED in line] == []
    assert dnsmasq_pid(stack, net_id) not in (None, cleared_pid)
    stack.probe_delete(second)
    stack.api('DELETE', f'/networks/{net_id}')
    wait_for(lambda: dnsmasq_pid(stack, net_id) is None, 20, 0.05, 'dnsmasq stopped')


def set_option(stack, probe, opts):
    """Give the probe's port the option and wait for a lease that has it: dnsmasq has
    then answered the tagged client, which makes a later SIGHUP fatal."""
    stack.api('PUT', f'/ports/{probe["id"]}', {'port': {'extra_dhcp_opts': [
        {'opt_name': 'ntp-server', 'opt_value': NTP}]}})
    wait_for(lambda: NTP in open(opts).read(), 10, 0.05, 'the option in the opts file')
    assert lease_where(probe, lambda got: got.get('ntp-servers'),
                       'a lease with ntp-servers')['ntp-servers'] == NTP


def probe_address(stack, probe):
    port = stack.api('GET', f'/ports/{probe["id"]}')['port']
    return port['fixed_ips'][0]['ip_address']
