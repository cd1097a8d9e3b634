import dataclasses
import logging

import pytest

from agent.reconcile import plan as p


@dataclasses.dataclass(frozen=True, slots=True)
class AddNamespace(p.Action):
    name: str

    def describe(self):
        return p.shell('ip', 'netns', 'add', self.name)


@dataclasses.dataclass(frozen=True, slots=True)
class SetSysctl(p.Action):
    key: str
    value: str


def test_plan_basics():
    plan = p.Plan.of([AddNamespace('qdhcp-x'), SetSysctl('a', '1')])
    assert not plan.empty and len(plan) == 2 and bool(plan)
    assert str(plan) == "ip netns add qdhcp-x\n# SetSysctl key='a' value='1'"
    assert p.Plan().empty and str(p.Plan()) == ''
    assert (plan + p.Plan()).actions == plan.actions
    assert plan == p.Plan((AddNamespace('qdhcp-x'), SetSysctl('a', '1')))


def test_shell_quotes():
    assert p.shell('echo', 'a b', 3) == "echo 'a b' 3"


def test_execute_runs_in_order_and_logs(caplog):
    done = []
    plan = p.Plan.of([AddNamespace('n1'), AddNamespace('n2')])
    with caplog.at_level(logging.DEBUG, logger='agent.reconcile.plan'):
        p.execute(plan, done.append, 'network n')
    assert done == list(plan)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[:2] == ['network n: ip netns add n1', 'network n: ip netns add n2']
    assert messages[2].startswith('reconciled network n: 2 actions in ')
    assert caplog.records[2].levelno == logging.INFO


def test_execute_stops_at_first_failure():
    done = []

    def executor(action):
        if action.name == 'bad':
            raise OSError('File exists')
        done.append(action)

    plan = p.Plan.of([AddNamespace('ok'), AddNamespace('bad'), AddNamespace('never')])
    with pytest.raises(p.ActionFailed) as err:
        p.execute(plan, executor, 'network n')
    assert err.value.index == 1 and err.value.action == AddNamespace('bad')
    assert 'ip netns add bad' in str(err.value)
    assert done == [AddNamespace('ok')]
