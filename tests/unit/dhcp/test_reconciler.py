"""The reconciler on in-memory drivers, processes and plugin: what it does to the host."""

import dataclasses
import logging
import os
import signal
import time

import pytest

from agent.common import names, polling
from agent.dataplane.executor import HostDrivers
from agent.dhcp.fetch_waiters import Waiting
from agent.dhcp.reconciler import (
    DeviceConflict, DhcpReconciler, ReconcilerConfig, metadata_key, network_key)
from agent.dhcp.settings import DnsmasqSettings
from agent.dhcp.state import NetworkState
from agent.drivers.fake import FakeDrivers
from agent.drivers.state import PortSpec
from agent.metadata import haproxy
from agent.model import network as m
from agent.process import ProcessManager, ProcessMonitor
from agent.reconcile.queue import FORGET
from tests.unit.dhcp import golden as g
from tests.unit.process.fakes import FakeProcessTable

HOST = 'node1'
OURS = names.dhcp_port_device_id(HOST, g.NET_ID)
TAP = 'tap' + g.DHCP_PORT_ID[:11]
NS = 'qdhcp-' + g.NET_ID


class FakePlugin:
    def __init__(self, network):
        self.network = network
        self.calls = []

    def get_network_info(self, network_id):
        self.calls.append(('get_network_info', network_id))
        return self.network

    def create_dhcp_port(self, body):
        self.calls.append(('create_dhcp_port', body['device_id']))
        port = g.port(g.DHCP_PORT_ID, 'fa:16:3e:73:4a:f9', (g.SUBNET_ID, '192.168.10.2'),
                      owner='network:dhcp', device_id=body['device_id'])
        self.network = dataclasses.replace(self.network,
                                           ports=self.network.ports + (port,))
        return port

    def update_dhcp_port(self, port_id, body):
        raise AssertionError('not expected')

    def release_dhcp_port(self, network_id, device_id):
        self.calls.append(('release_dhcp_port', network_id, device_id))


class Ready:
    def __init__(self):
        self.ids = []

    def add(self, ids):
        self.ids += list(ids)


VM = g.port(g.VM_PORT_ID, 'fa:16:3e:b8:c1:5b', (g.SUBNET_ID, '192.168.10.93'))


@pytest.fixture
def world(tmp_path):
    fakes = FakeDrivers.create()
    procs = FakeProcessTable()
    manager = ProcessManager(procs, poll_interval=0)
    plugin = FakePlugin(m.Network(id=g.NET_ID, project_id='p', mtu=1450,
                                  subnets=(g.subnet(),), ports=(VM,)))
    ready = Ready()
    queued = []
    rec = DhcpReconciler(
        ReconcilerConfig(HOST, 'br-int', DnsmasqSettings(state_path=str(tmp_path))),
        plugin, HostDrivers(fakes.netns, fakes.links, fakes.ovs), fakes.vlans, manager,
        ProcessMonitor(0, 'respawn', manager), ready=ready,
        enqueue=lambda key, prio, reason: queued.append(key))
    rec.assigned.event(g.NET_ID, True)
    return fakes, procs, plugin, rec, ready, queued


def dnsmasq_pids(procs):
    return [pid for pid, argv in procs.procs.items() if argv[0] == 'dnsmasq']


def test_a_new_network_is_plugged_and_served(world):
    fakes, procs, plugin, rec, ready, _ = world
    assert rec.handle(network_key(g.NET_ID)) is None
    assert ('create_dhcp_port', OURS) in plugin.calls
    link = fakes.links.observe_link(NS, TAP)
    assert link.mac == 'fa:16:3e:73:4a:f9' and link.mtu == 1450 and link.up
    assert {str(a) for a in link.addresses} == {'192.168.10.2/24'}
    port = fakes.ovs.list_ports('br-int')[0]
    assert (port.name, port.iface_id, port.tag) == (TAP, g.DHCP_PORT_ID,
                                                    fakes.vlans.tag_for(g.NET_ID))
    assert len(dnsmasq_pids(procs)) == 1
    assert ready.ids == [g.VM_PORT_ID]
    assert rec.networks.served(g.NET_ID).device == TAP


def test_a_converged_network_changes_nothing(world):
    fakes, procs, plugin, rec, ready, _ = world
    rec.handle(network_key(g.NET_ID))
    fakes.host.log.clear()
    spawned = len(procs.spawned)
    rec.handle(network_key(g.NET_ID))
    assert fakes.host.log == []
    assert len(procs.spawned) == spawned and procs.signals == []
    assert [c for c in plugin.calls if c[0] == 'create_dhcp_port'] == [('create_dhcp_port',
                                                                          OURS)]
    assert rec.outcomes == {'started': 1, 'unchanged': 1}
    assert ready.ids == [g.VM_PORT_ID]      # reported once


def test_a_new_port_is_a_sighup_of_the_same_dnsmasq(world):
    fakes, procs, plugin, rec, _, _ = world
    rec.handle(network_key(g.NET_ID))
    pid = dnsmasq_pids(procs)[0]
    new = g.port('0d7f3a10-51b2-4c3e-a0b9-2f6e4d1c9a70', 'fa:16:3e:00:00:99',
                 (g.SUBNET_ID, '192.168.10.99'))
    plugin.network = dataclasses.replace(plugin.network, ports=plugin.network.ports + (new,))
    rec.handle(network_key(g.NET_ID))
    assert dnsmasq_pids(procs) == [pid]
    assert procs.signals == [(pid, signal.SIGHUP)]
    assert rec.networks.get(g.NET_ID).reloads == 1


def test_network_gone_tears_everything_down(world, tmp_path):
    fakes, procs, plugin, rec, _, queued = world
    rec.handle(network_key(g.NET_ID))
    plugin.network = None
    assert rec.handle(network_key(g.NET_ID)) is FORGET
    assert not fakes.netns.exists(NS)
    assert fakes.ovs.list_ports('br-int') == []
    assert dnsmasq_pids(procs) == []
    assert not (tmp_path / 'dhcp' / g.NET_ID).exists()
    assert g.NET_ID not in fakes.vlans.allocations()
    assert ('release_dhcp_port', g.NET_ID, OURS) in plugin.calls
    assert metadata_key(g.NET_ID) in queued
    assert g.NET_ID not in rec.assigned
    assert rec.networks.get(g.NET_ID) == NetworkState()      # one record, removed


def test_a_full_fetch_allocates_the_local_vlans_of_the_networks_served(world):
    fakes, _, plugin, rec, _, _ = world
    other = '0b7c7c52-5d5e-4e4e-9a55-3f1f5b0e7a01'
    no_dhcp = dataclasses.replace(plugin.network, id=other, subnets=())
    rec.prefetched([plugin.network, no_dhcp], 0.0)
    assert fakes.vlans.allocations() == {g.NET_ID: 1}


def test_the_tag_allocated_by_the_full_fetch_is_the_ports(world):
    fakes, _, plugin, rec, _, _ = world
    other = '0b7c7c52-5d5e-4e4e-9a55-3f1f5b0e7a01'
    fakes.vlans.tag_for(other)
    rec.prefetched([plugin.network], 0.0)
    rec.handle(network_key(g.NET_ID))
    assert fakes.ovs.list_ports('br-int')[0].tag == 2


def test_the_last_state_read_is_kept_until_teardown(world):
    _, _, plugin, rec, _, _ = world
    assert rec.last_fetched(g.NET_ID) is None
    fetched = plugin.network
    rec.handle(network_key(g.NET_ID))
    assert rec.last_fetched(g.NET_ID) is fetched
    rec.assigned.event(g.NET_ID, False)
    rec.handle(network_key(g.NET_ID))
    assert rec.last_fetched(g.NET_ID) is None


def test_an_unassigned_network_is_torn_down_without_fetching(world):
    fakes, procs, plugin, rec, _, _ = world
    rec.handle(network_key(g.NET_ID))
    rec.assigned.event(g.NET_ID, False)
    calls = len(plugin.calls)
    rec.handle(network_key(g.NET_ID))
    assert not fakes.netns.exists(NS)
    assert plugin.calls[calls:] == [('release_dhcp_port', g.NET_ID, OURS)]


def test_nothing_of_ours_means_no_release(world):
    _, _, plugin, rec, _, _ = world
    rec.assigned.event(g.NET_ID, False)
    rec.handle(network_key(g.NET_ID))
    assert plugin.calls == []


def test_namespace_deleted_behind_our_back_is_rebuilt(world):
    fakes, procs, plugin, rec, _, _ = world
    rec.handle(network_key(g.NET_ID))
    fakes.netns.delete(NS, force=True)
    rec.handle(network_key(g.NET_ID))
    assert fakes.links.observe_link(NS, TAP) is not None


def test_admin_down_disables(world):
    fakes, procs, plugin, rec, _, _ = world
    rec.handle(network_key(g.NET_ID))
    plugin.network = dataclasses.replace(plugin.network, admin_state_up=False)
    rec.handle(network_key(g.NET_ID))
    assert not fakes.netns.exists(NS) and dnsmasq_pids(procs) == []


def test_isolated_metadata_goes_on_its_own_key(world, tmp_path):
    fakes, procs, plugin, rec, _, queued = world
    rec.settings = dataclasses.replace(rec.settings, enable_isolated_metadata=True)
    rec.handle(network_key(g.NET_ID))
    assert queued == [metadata_key(g.NET_ID)]
    pid_file = haproxy.pid_file_path(str(tmp_path), g.NET_ID)
    procs.pid_file_hook = lambda argv, pid: procs.files.__setitem__(pid_file, str(pid)) \
        if argv[0] == 'haproxy' else None
    rec.handle(metadata_key(g.NET_ID))
    assert sorted(argv[0] for argv in procs.procs.values()) == ['dnsmasq', 'haproxy']
    assert procs.spawned[-1][0] == NS


def test_assignment_events_newer_than_a_fetch_win():
    from agent.dhcp.state import Assignments
    now = [0.0]
    a = Assignments(clock=lambda: now[0])
    a.event('n-old', True)
    now[0] = 5.0
    a.event('n-new', True)
    a.fetched(['n-fetched'], started_at=4.0)
    assert a.ids() == {'n-fetched', 'n-new'}


def test_reloads_are_held_down_to_one_per_interval(world):
    fakes, procs, plugin, rec, _, _ = world
    slept = []
    rec._sleep = slept.append
    rec.handle(network_key(g.NET_ID))
    assert slept == []                       # nothing reloaded yet: no wait
    for n in range(2):
        new = g.port(f'0d7f3a10-51b2-4c3e-a0b9-2f6e4d1c9a7{n}', f'fa:16:3e:00:00:9{n}',
                     (g.SUBNET_ID, f'192.168.10.9{n}'))
        plugin.network = dataclasses.replace(plugin.network,
                                             ports=plugin.network.ports + (new,))
        rec.handle(network_key(g.NET_ID))
    assert len(slept) == 1 and 0 < slept[0] <= rec.config.reload_interval


def test_the_namespace_is_made_while_the_dhcp_port_is(world, tmp_path):
    """Namespace creation leaves the path to serving: it runs during the server's
    create_dhcp_port, and the network converges as usual after both."""
    fakes, procs, plugin, rec, _, _ = world
    create = plugin.create_dhcp_port
    seen = []

    def slow_create(body):
        seen.append(os.path.isdir(tmp_path / 'dhcp' / g.NET_ID))
        seen.append(polling.poll(lambda: fakes.netns.exists(NS), 5, 0.001))
        return create(body)
    plugin.create_dhcp_port = slow_create
    rec.handle(network_key(g.NET_ID))
    assert seen == [True, True]
    link = fakes.links.observe_link(NS, TAP)
    assert link.up and {str(a) for a in link.addresses} == {'192.168.10.2/24'}
    assert len(dnsmasq_pids(procs)) == 1
    rec.handle(network_key(g.NET_ID))                 # converged: no second namespace
    assert fakes.netns.list_namespaces() == [NS]


def test_the_namespace_made_ahead_is_logged_as_the_plan_would_log_it(world, caplog):
    """Made outside the plan: the reconciler logs it (the drivers log no change)."""
    _, _, _, rec, _, _ = world
    with caplog.at_level(logging.DEBUG):
        rec.handle(network_key(g.NET_ID))
    made = [r.getMessage() for r in caplog.records if 'ip netns add' in r.getMessage()]
    assert made == [f'network {g.NET_ID}: ip netns add {NS}; '
                    f'ip netns exec {NS} sysctl -w net.ipv4.ip_nonlocal_bind=1; '
                    f'ip netns exec {NS} sysctl -w net.ipv6.conf.default.accept_ra=0']


def test_dnsmasq_starts_beside_the_plug_in_a_namespace_made_ahead(world):
    fakes, procs, plugin, rec, _, _ = world
    move = fakes.links.move_to_namespace
    seen = []

    def waiting_move(*args, **kwargs):
        seen.append(polling.poll(lambda: dnsmasq_pids(procs), 5, 0.001))
        return move(*args, **kwargs)
    fakes.links.move_to_namespace = waiting_move
    rec.handle(network_key(g.NET_ID))
    assert len(seen) == 1 and seen[0]


def test_the_state_dir_exists_before_the_namespace(world, tmp_path):
    """A crash between creating the namespace and plugging leaves a namespace that
    the pruner can tell is ours (by the state directory)."""
    fakes, _, _, rec, _, _ = world
    seen = []
    create = fakes.netns.create

    def spy(name, *args):
        seen.append(os.path.isdir(tmp_path / 'dhcp' / g.NET_ID))
        return create(name, *args)
    fakes.netns.create = spy
    rec.handle(network_key(g.NET_ID))
    assert seen == [True]


def test_an_event_during_a_full_fetch_makes_the_network_fetched_again(world):
    """The fetch began before the event: its copy of the network may be older than
    the event, so the handler reads the network again instead of using it."""
    _, _, plugin, rec, _, _ = world
    started = time.monotonic()
    rec.invalidate(g.NET_ID)             # the port update arrives mid-fetch
    rec.prefetched([plugin.network], started)
    rec.handle(network_key(g.NET_ID))
    assert ('get_network_info', g.NET_ID) in plugin.calls


def test_a_full_fetch_begun_after_the_event_is_used(world):
    _, _, plugin, rec, _, _ = world
    rec.invalidate(g.NET_ID)
    rec.prefetched([plugin.network], time.monotonic())
    rec.handle(network_key(g.NET_ID))
    assert ('get_network_info', g.NET_ID) not in plugin.calls


def test_creates_that_waited_for_the_read_are_checked_against_it(world):
    """A new network's subnet_create_end comes while the run its network_create_end
    queued is fetching: the fetch holds the subnet, so nothing runs again; a port
    it does not hold yet is queued with its event's priority."""
    _, _, plugin, rec, _, _ = world
    queued = []
    rec.enqueue = lambda key, prio, reason: queued.append((key, prio, reason))
    later = '0d7f3a10-51b2-4c3e-a0b9-2f6e4d1c9a70'
    fetch = plugin.get_network_info

    def events_arrive(network_id):
        for created, prio, reason in ((g.SUBNET_ID, 3, 'subnet_create_end'),
                                      (later, 5, 'port_create_end')):
            assert rec.fetch_waiters.wait_or_expect(network_id, Waiting(
                lambda n, i=created: i in {s.id for s in n.subnets} or
                n.port(i) is not None, prio, reason))
        return fetch(network_id)
    plugin.get_network_info = events_arrive
    rec.handle(network_key(g.NET_ID))
    assert queued == [(network_key(g.NET_ID), 5, 'port_create_end')]
    assert not rec.fetch_waiters.wait_or_expect(g.NET_ID, Waiting(lambda n: True, 3,
                                                                  'late'))


def test_creates_waiting_for_a_read_that_failed_or_never_came_are_queued(world):
    _, _, plugin, rec, _, _ = world
    queued = []
    rec.enqueue = lambda key, prio, reason: queued.append((key, reason)) \
        if key == network_key(g.NET_ID) else None

    def fails(network_id):
        rec.fetch_waiters.wait_or_expect(network_id, Waiting(lambda n: True, 3,
                                                             'fetching'))
        raise TimeoutError('no reply')
    plugin.get_network_info = fails
    with pytest.raises(TimeoutError):
        rec.handle(network_key(g.NET_ID))
    rec.assigned.event(g.NET_ID, False)      # the run tears down: it reads nothing
    rec.fetch_waiters.wait_or_expect(g.NET_ID, None)      # the delete queued the run
    rec.fetch_waiters.wait_or_expect(g.NET_ID, Waiting(lambda n: True, 0,
                                                       'scheduled again'))
    rec.handle(network_key(g.NET_ID))
    assert [reason for _, reason in queued] == ['fetching', 'scheduled again']


def test_a_tap_name_held_by_another_port_is_refused_not_taken(world):
    """Another port's device already has our DHCP port's tap name (ids sharing 11
    characters): the network is refused naming both ports, that device untouched."""
    fakes, procs, plugin, rec, _ready, _ = world
    other = g.DHCP_PORT_ID[:11] + 'f' + g.DHCP_PORT_ID[12:]
    assert other != g.DHCP_PORT_ID
    fakes.netns.create('qdhcp-other')
    fakes.ovs.plug_ports('br-int', [PortSpec(TAP, other, 'fa:16:3e:00:00:09', 7)])
    fakes.links.move_to_namespace(TAP, 'qdhcp-other')
    with pytest.raises(DeviceConflict) as info:
        rec.handle(network_key(g.NET_ID))
    assert g.DHCP_PORT_ID in str(info.value) and other in str(info.value)
    assert [(p.name, p.iface_id) for p in fakes.ovs.list_ports('br-int')] == [(TAP, other)]
    assert fakes.links.observe_link('qdhcp-other', TAP) is not None
    assert not fakes.netns.exists(NS) and not dnsmasq_pids(procs)


def test_a_full_fetch_begun_before_our_dhcp_port_was_created_is_not_used(world):
    """Two full syncs back to back at a start (the agent start, then the server's
    'revived: resync'): the second fetch read the network before the first run
    created our DHCP port.  The rerun fetches the network again instead of creating
    a second DHCP port."""
    _, _, plugin, rec, _, _ = world
    stale = plugin.network                       # no DHCP port yet
    started = time.monotonic()
    rec.handle(network_key(g.NET_ID))            # creates the port
    rec.prefetched([stale], started)             # that fetch ends now
    rec.handle(network_key(g.NET_ID))
    assert [c for c in plugin.calls if c[0] == 'create_dhcp_port'] == [
        ('create_dhcp_port', OURS)]
    assert ('get_network_info', g.NET_ID) in plugin.calls


def _with_firewall(rec):
    from agent.dhcp.firewall import QdhcpFirewall
    from agent.drivers.iptables import DHCP_WRAP, IptablesManager, IptablesManagers
    from agent.drivers.iptables_fake import FakeIptables
    backend = FakeIptables()
    rec.firewall = QdhcpFirewall(IptablesManagers(lambda ns: IptablesManager(
        ns, DHCP_WRAP, backend=backend, read_stamp=backend.stamp)))
    return backend


def test_the_iptables_of_a_new_namespace_wait_for_the_end_of_the_burst(world):
    fakes, procs, plugin, rec, _, _ = world
    backend = _with_firewall(rec)
    rec.handle(network_key(g.NET_ID))
    assert len(dnsmasq_pids(procs)) == 1 and backend.restores == []   # serving first
    assert rec.apply_firewalls() == 1                 # the queue idle
    assert [v for v, _ in backend.restores] == [4, 6] and backend.saves == 0
    assert rec.apply_firewalls() == 0
    rec.handle(network_key(g.NET_ID))                 # converged: checked at once
    assert len(backend.restores) == 2


def test_a_burst_that_does_not_end_delays_them_at_most_a_second(world, monkeypatch):
    from agent.dhcp import reconciler
    fakes, procs, plugin, rec, _, _ = world
    backend = _with_firewall(rec)
    monkeypatch.setattr(reconciler, 'FIREWALL_DEFER_MAX', 0.0)
    rec.handle(network_key(g.NET_ID))
    assert [v for v, _ in backend.restores] == [4, 6]   # within the network's run


def test_a_network_torn_down_before_the_burst_ends_has_none_set(world):
    fakes, procs, plugin, rec, _, _ = world
    backend = _with_firewall(rec)
    rec.handle(network_key(g.NET_ID))
    plugin.network = None
    assert rec.handle(network_key(g.NET_ID)) is FORGET
    assert rec.apply_firewalls() == 0 and backend.restores == []
