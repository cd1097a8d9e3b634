"""adoption.decide: observed children + pid file + desired -> adopt / stop / spawn."""

import pytest

from agent.process.adoption import Child, Decision, decide

NS = 'qdhcp-524952ab-eb76-4838-8490-3a60a5746dcb'
ARGV = ('dnsmasq', '--pid-file=/s/dhcp/x/pid')
OLD = ('dnsmasq', '--pid-file=/s/dhcp/x/pid', '--old')


def c(pid, namespace=NS, argv=ARGV):
    return Child(pid, argv, namespace)


@pytest.mark.parametrize('found, pid_file, wanted, expect', [
    # nothing runs: spawn (whatever the pid file holds)
    ((), None, True, Decision(spawn=True)),
    ((), 4242, True, Decision(spawn=True)),
    ((), None, False, Decision()),
    # the pid file names the one child: nothing to do
    ((c(10),), 10, True, Decision(keep=10)),
    # the pid file names another pid, nothing, or garbage: adopt
    ((c(10),), 4242, True, Decision(keep=10, adopt=True)),
    ((c(10),), None, True, Decision(keep=10, adopt=True)),
    # a hand-started duplicate: the pid file's one is kept
    ((c(10), c(20)), 20, True,
     Decision(keep=20, stop=((10, 'duplicate of pid 20'),))),
    # no pid file: the one with the desired argv, else the oldest
    ((c(10, argv=OLD), c(20)), None, True,
     Decision(keep=20, adopt=True, stop=((10, 'duplicate of pid 20'),))),
    ((c(20, argv=OLD), c(10, argv=OLD)), None, True,
     Decision(keep=10, adopt=True, stop=((20, 'duplicate of pid 10'),))),
    # left in a namespace that was deleted: stopped, a new one spawned
    ((c(10, None),), 10, True,
     Decision(stop=((10, f'runs in a namespace that is gone, not in namespace {NS}'),),
              spawn=True)),
    ((c(10, 'qdhcp-other'), c(20)), 10, True,
     Decision(keep=20, adopt=True,
              stop=((10, f'runs in namespace qdhcp-other, not in namespace {NS}'),))),
    # not wanted: every one stopped
    ((c(10), c(20)), 10, False,
     Decision(stop=((10, 'not wanted on this host'), (20, 'not wanted on this host')))),
])
def test_decide(found, pid_file, wanted, expect):
    assert decide(found, pid_file, NS, wanted, ARGV) == expect


def test_host_namespace_children():
    assert decide([c(7, '')], None, None, True) == Decision(keep=7, adopt=True)
    assert decide([c(7, NS)], 7, None, True).stop == (
        (7, f'runs in namespace {NS}, not in the host namespace'),)


def test_changes():
    assert not Decision(keep=1).changes
    assert Decision(keep=1, adopt=True).changes and Decision(stop=((1, 'x'),)).changes
