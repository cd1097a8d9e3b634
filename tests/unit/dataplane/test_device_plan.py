"""Tables of (desired, observed) -> plan for a plugged device.  No mocks."""

import ipaddress

from agent.dataplane import device as d
from agent.drivers.state import LinkState, OvsPort, PortSpec, RouteState

NS = 'qdhcp-524952ab-eb76-4838-8490-3a60a5746dcb'
PORT = PortSpec('tape9f30b29-bf', 'e9f30b29-bfda-4d5e-b6fc-d5be3e94d090',
                'fa:16:3e:73:4a:f9', 5)
ADDR = ipaddress.ip_interface('192.168.10.2/24')
GW = ipaddress.ip_address('192.168.10.1')
DESIRED = d.DesiredDevice(NS, 'br-int', PORT, 1450, frozenset({ADDR}), (GW,),
                          (('net.ipv4.ip_nonlocal_bind', 1),))


def converged_link(**changes):
    fields = dict(name=PORT.name, index=7, mac=PORT.mac, mtu=1450, up=True,
                  addresses=frozenset({ADDR}),
                  broadcasts=((ADDR, ipaddress.ip_address('192.168.10.255')),))
    fields.update(changes)
    return LinkState(**fields)


def ovs_port(**changes):
    fields = dict(name=PORT.name, bridge='br-int', iface_id=PORT.iface_id, mac=PORT.mac,
                  tag=5, ofport=3)
    fields.update(changes)
    return OvsPort(**fields)


DEFAULT = RouteState(dst=ipaddress.ip_network('0.0.0.0/0'), gateway=GW, dev=PORT.name)
SYSCTLS = (('net.ipv4.ip_nonlocal_bind', '1'),)


def kinds(plan):
    return [type(a).__name__ for a in plan]


def test_nothing_exists_plans_everything_in_kernel_order():
    plan = d.diff(DESIRED, d.ObservedDevice(False, None, None))
    assert kinds(plan) == ['CreateNamespace', 'SetSysctls', 'PlugPort', 'MoveToNamespace',
                           'SetMac', 'SetMtu', 'SetUp', 'AddAddress', 'SetDefaultGateway']
    assert 'ip netns add ' + NS in str(plan)
    assert 'brd 192.168.10.255' in str(plan)


def test_converged_device_plans_nothing():
    observed = d.ObservedDevice(True, ovs_port(), converged_link(), False, (DEFAULT,),
                                SYSCTLS)
    assert d.diff(DESIRED, observed).empty


def test_only_the_drift_is_repaired():
    observed = d.ObservedDevice(True, ovs_port(tag=4095),
                                converged_link(up=False, mtu=1500), False, (), SYSCTLS)
    assert kinds(d.diff(DESIRED, observed)) == ['SetTag', 'SetMtu', 'SetUp',
                                                 'SetDefaultGateway']


def test_namespace_deleted_behind_our_back_replugs():
    observed = d.ObservedDevice(False, ovs_port(), None, False)
    assert kinds(d.diff(DESIRED, observed))[:4] == ['CreateNamespace', 'SetSysctls',
                                                     'PlugPort', 'MoveToNamespace']


def test_plugged_but_not_moved_is_moved_not_replugged():
    observed = d.ObservedDevice(True, ovs_port(), None, True, (), SYSCTLS)
    assert kinds(d.diff(DESIRED, observed))[0] == 'MoveToNamespace'


OTHER_PORT = 'e9f30b29-bfd0-4000-8000-000000000001'     # same 11 first characters


def test_another_ports_device_of_the_same_name_is_never_taken():
    """A port whose id starts like another's would get that port's device: the
    plan refuses it and touches nothing (no replug, no move out of its namespace)."""
    for observed in (
            d.ObservedDevice(True, ovs_port(iface_id=OTHER_PORT), converged_link(), False,
                             (DEFAULT,), SYSCTLS),
            d.ObservedDevice(False, ovs_port(iface_id=OTHER_PORT), None, False),
            d.ObservedDevice(True, ovs_port(iface_id=OTHER_PORT), None, True)):
        plan = d.diff(DESIRED, observed)
        assert kinds(plan) == ['RefuseDevice']
        assert d.refusals(plan) == [d.RefuseDevice(NS, PORT.name, PORT.iface_id,
                                                   OTHER_PORT)]
        assert OTHER_PORT in str(plan) and PORT.iface_id in str(plan)


def test_a_port_of_the_same_name_without_iface_id_is_replugged():
    observed = d.ObservedDevice(True, ovs_port(iface_id=''), converged_link(), False,
                                (DEFAULT,), SYSCTLS)
    assert kinds(d.diff(DESIRED, observed))[0] == 'PlugPort'


def test_addresses_are_made_exact_and_wrong_broadcast_replaced():
    extra = ipaddress.ip_interface('10.9.9.9/24')
    link = converged_link(addresses=frozenset({ADDR, extra}),
                          broadcasts=((ADDR, ipaddress.ip_address('192.168.10.0')),))
    observed = d.ObservedDevice(True, ovs_port(), link, False, (DEFAULT,), SYSCTLS)
    plan = d.diff(DESIRED, observed)
    assert [(type(a).__name__, str(a.address)) for a in plan] == [
        ('DeleteAddress', '10.9.9.9/24'), ('DeleteAddress', '192.168.10.2/24'),
        ('AddAddress', '192.168.10.2/24')]


def test_default_route_removed_when_no_gateway_wanted():
    desired = d.DesiredDevice(NS, 'br-int', PORT, 1450, frozenset({ADDR}), (), ())
    observed = d.ObservedDevice(True, ovs_port(), converged_link(), False, (DEFAULT,))
    assert kinds(d.diff(desired, observed)) == ['DeleteDefaultRoute']


def test_teardown_unplugs_then_deletes_namespace():
    plan = d.teardown_devices(NS, 'br-int', [PORT.name], True)
    assert kinds(plan) == ['UnplugPort', 'DeleteNamespace']
    assert kinds(d.teardown_devices(NS, 'br-int', [], False)) == []


MOVE = d.MoveToNamespace(PORT.name, NS)
META = ipaddress.ip_interface('169.254.169.254/16')
ADD, ADD_META = d.AddAddress(NS, PORT.name, ADDR), d.AddAddress(NS, PORT.name, META)
ROUTE = d.SetDefaultGateway(NS, PORT.name, GW)
OTHER_ADD = d.AddAddress(NS, 'tap-other', META)


def test_fold_device_config_folds_a_taps_addresses_and_its_default_route():
    cases = [
        ((MOVE, ADD, ADD_META, ROUTE),
         (MOVE, d.ConfigureDevice(NS, PORT.name, (ADDR, META), (GW,)))),
        ((ADD, ROUTE), (d.ConfigureDevice(NS, PORT.name, (ADDR,), (GW,)),)),
        ((ADD,), (ADD,)),                                   # one action: as it is
        ((ROUTE,), (ROUTE,)),                               # a route alone: as it is
        ((ADD, OTHER_ADD, ROUTE), (ADD, OTHER_ADD, ROUTE)),  # another device between
        ((ADD, ROUTE, ADD_META), (d.ConfigureDevice(NS, PORT.name, (ADDR,), (GW,)), ADD_META)),
        ((), ()),
    ]
    for actions, expected in cases:
        assert d.fold_device_config(d.Plan.of(actions)).actions == expected, actions


def test_a_configured_device_describes_itself_as_the_commands_it_replaces():
    folded = d.ConfigureDevice(NS, PORT.name, (ADDR,), (GW,))
    assert folded.describe() == f'{ADD.describe()}; {ROUTE.describe()}'


# -- ovs_use_veth: a veth pair made in the namespace, its root end plugged ------------

VETH = d.DesiredDevice(NS, 'br-int', PortSpec(PORT.name, PORT.iface_id, PORT.mac, 5,
                                              internal=False),
                       1450, frozenset({ADDR}), (GW,), (('net.ipv4.ip_nonlocal_bind', 1),))


def test_veth_nothing_exists_makes_the_pair_in_the_namespace_then_plugs_it():
    plan = d.diff(VETH, d.ObservedDevice(False, None, None))
    assert kinds(plan) == ['CreateNamespace', 'SetSysctls', 'CreateVethPair', 'PlugPort',
                           'AddAddress', 'SetDefaultGateway']
    text = str(plan)
    assert (f'ip link add {PORT.name} mtu 1450 type veth peer name {PORT.name} netns {NS} '
            f'address {PORT.mac} mtu 1450') in text
    assert 'type=internal' not in text and 'MoveToNamespace' not in kinds(plan)


def test_veth_converged_plans_nothing():
    observed = d.ObservedDevice(True, ovs_port(type=''), converged_link(kind='veth'), True,
                                (DEFAULT,), SYSCTLS)
    assert d.diff(VETH, observed).empty


def test_veth_unplugged_root_end_is_plugged_again_without_a_new_pair():
    observed = d.ObservedDevice(True, None, converged_link(kind='veth'), True, (DEFAULT,),
                                SYSCTLS)
    assert kinds(d.diff(VETH, observed)) == ['PlugPort']


def test_veth_lost_namespace_end_makes_a_new_pair_and_plugs_it_again():
    """The port is still on the bridge but its device is gone (the namespace was
    deleted behind the agent's back): a new pair, and the port replugged (its
    old device is gone)."""
    observed = d.ObservedDevice(True, ovs_port(type=''), None, False, (), SYSCTLS)
    assert kinds(d.diff(VETH, observed)) == ['CreateVethPair', 'PlugPort', 'AddAddress',
                                             'SetDefaultGateway']


def test_veth_mtu_change_reaches_both_ends():
    observed = d.ObservedDevice(True, ovs_port(type=''), converged_link(kind='veth', mtu=1500),
                                True, (DEFAULT,), SYSCTLS)
    plan = d.diff(VETH, observed)
    assert [(type(a).__name__, a.namespace, a.mtu) for a in plan] == [
        ('SetMtu', None, 1450), ('SetMtu', NS, 1450)]


def test_switching_to_veth_unplugs_the_internal_port_first():
    observed = d.ObservedDevice(True, ovs_port(), converged_link(kind='tun'), False,
                                (DEFAULT,), SYSCTLS)
    assert kinds(d.diff(VETH, observed)) == ['UnplugPort', 'CreateVethPair', 'PlugPort',
                                             'AddAddress', 'SetDefaultGateway']


def test_switching_back_to_internal_deletes_the_pair_first():
    observed = d.ObservedDevice(True, ovs_port(type=''), converged_link(kind='veth'), True,
                                (DEFAULT,), SYSCTLS)
    assert kinds(d.diff(DESIRED, observed)) == ['UnplugPort', 'PlugPort', 'MoveToNamespace',
                                                 'SetMac', 'SetMtu', 'SetUp', 'AddAddress',
                                                 'SetDefaultGateway']


def test_veth_plan_applied_on_fake_drivers_converges_and_unplugs_cleanly():
    from agent.dataplane import executor
    from agent.drivers.fake import FakeDrivers
    fakes = FakeDrivers.create()
    drivers = executor.HostDrivers(fakes.netns, fakes.links, fakes.ovs)
    for action in d.diff(VETH, executor.observe(drivers, VETH)):
        executor.apply(drivers, action)
    assert d.diff(VETH, executor.observe(drivers, VETH)).empty
    assert fakes.links.observe_link(None, PORT.name).kind == 'veth'
    assert fakes.ovs.find_port('br-int', PORT.name).type == ''
    executor.apply(drivers, d.UnplugPort('br-int', PORT.name))
    assert fakes.links.observe_link(None, PORT.name) is None
    assert fakes.links.observe_link(NS, PORT.name) is None
