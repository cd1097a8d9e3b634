"""Local VLANs asked for by many threads of one process at once: committed in fewer
transactions, each network its own tag, the same network the same tag."""

import threading
import time
import uuid

import pytest

from agent.drivers.local_vlan import LocalVlans

pytestmark = pytest.mark.functional


def test_concurrent_allocations_in_one_process_are_distinct_and_stable(ovs, make_bridge):
    vlans = LocalVlans(ovs, make_bridge())
    shared = str(uuid.uuid4())
    nets = [str(uuid.uuid4()) for _ in range(24)] + [shared] * 6
    got = {}
    lock = threading.Lock()
    start = threading.Barrier(len(nets))

    def allocate(i, net):
        start.wait()
        tag = vlans.tag_for(net)
        with lock:
            got[i] = (net, tag)

    threads = [threading.Thread(target=allocate, args=(i, n)) for i, n in enumerate(nets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(got) == len(nets)
    by_net = {}
    for net, tag in got.values():
        assert by_net.setdefault(net, tag) == tag          # one network, one tag
    assert sorted(by_net.values()) == list(range(1, 26))   # lowest free, all distinct
    assert vlans.allocations() == by_net
    assert vlans.commits < 25, vlans.commits               # batched
    assert vlans.tag_for(shared) == by_net[shared]


def test_many_networks_at_once_take_one_transaction(ovs, make_bridge):
    vlans = LocalVlans(ovs, make_bridge())
    first = str(uuid.uuid4())
    assert vlans.tag_for(first) == 1
    nets = [str(uuid.uuid4()) for _ in range(20)]
    commits = vlans.commits
    tags = vlans.tags_for([first] + nets)
    assert vlans.commits == commits + 1
    assert tags == {first: 1, **{n: i + 2 for i, n in enumerate(nets)}}
    assert vlans.allocations() == tags
    assert vlans.tags_for(nets) == {n: tags[n] for n in nets}
    assert vlans.commits == commits + 1                    # all known: no transaction



def test_a_tag_is_read_by_its_key_and_is_current(ovs, make_bridge, monkeypatch):
    """A network's tag is read without converting the bridge's whole map, and
    another process's allocation is seen as soon as the IDL has it."""
    from agent.drivers import local_vlan
    from agent.drivers.ovs import OvsDriver
    bridge = make_bridge()
    vlans = LocalVlans(ovs, bridge)
    nets = [str(uuid.uuid4()) for _ in range(5)]
    tags = vlans.tags_for(nets)
    monkeypatch.setattr(local_vlan, 'tags_in', None)       # the whole map: not read
    assert [vlans.tag_for(n) for n in nets] == [tags[n] for n in nets]
    assert vlans.tags_for(nets[::-1]) == tags
    monkeypatch.undo()
    other = str(uuid.uuid4())
    theirs = LocalVlans(OvsDriver(ovs.connection, timeout=30), bridge)
    assert theirs.tag_for(other) == 6
    deadline = time.monotonic() + 10
    while other not in vlans.allocations() and time.monotonic() < deadline:
        time.sleep(0.05)
    commits = vlans.commits
    assert vlans.tag_for(other) == 6 and vlans.commits == commits   # theirs, not a new one


def test_a_full_map_fails_only_the_networks_without_a_tag(ovs, make_bridge):
    from agent.drivers import ovsdb_ops as ops
    from agent.drivers.state import DriverError, key_for
    bridge = make_bridge()
    taken = {key_for(str(uuid.uuid4())): str(tag) for tag in range(1, 4094)}
    ovs.api.transact([{'op': 'update', 'table': 'Bridge', 'where': [['name', '==', bridge]],
                       'row': {'external_ids': ops.omap(taken)}}])
    vlans = LocalVlans(ovs, bridge)
    fits, left_out = str(uuid.uuid4()), str(uuid.uuid4())
    with pytest.raises(DriverError, match=f'no free local VLAN for network {left_out}'):
        vlans.tags_for([fits, left_out])
    assert vlans.commits == 1 and vlans.tag_for(fits) == 4094
