"""adoption.decide: observed children + pid file + desired -> adopt / stop / spawn."""

import pytest

from agent.process import adoption
from agent.process.actions import AdoptChild, StopChild
from agent.process.adoption import Child, Decision, decide
from tests.unit.process.test_manager import dnsmasq_spec

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


def test_a_decision_as_child_actions():
    spec = dnsmasq_spec()
    ns = spec.namespace
    decision = Decision(keep=20, adopt=True, stop=((10, 'duplicate of pid 20'),
                                                   (30, 'not wanted on this host')))
    plan = adoption.actions(spec, decision, {10: ns, 20: ns, 30: None})
    assert list(plan) == [
        StopChild(spec, 10, f'in namespace {ns}: duplicate of pid 20'),
        StopChild(spec, 30, 'in a namespace that is gone: not wanted on this host'),
        AdoptChild(spec, 20, f'namespace {ns}')]
    assert [a.describe() for a in plan] == [
        f'kill 10  # in namespace {ns}: duplicate of pid 20',
        'kill 30  # in a namespace that is gone: not wanted on this host',
        f'echo 20 > {spec.pid_file}  # adopt pid 20 in namespace {ns}, which its pid '
        'file did not name']
    assert not adoption.actions(spec, Decision(keep=20), {20: ns})
    assert not adoption.actions(spec, Decision(spawn=True), {})
