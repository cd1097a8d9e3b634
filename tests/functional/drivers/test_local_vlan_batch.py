"""Local VLANs asked for by many threads of one process at once: committed in fewer
transactions, each network its own tag, the same network the same tag."""

import threading
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
