"""The periodic failover check (agent.controller.failover_loop): which agent types it
covers, its interval, and that it says once why nothing moves.  The plugin is a
recording stand-in."""

import logging

from agent.controller import failover
from agent.controller.failover_loop import FailoverLoop, check_interval, enabled_types


class Conf:
    agent_down_time = 10
    agent_failover_interval = 0
    allow_automatic_dhcp_failover = True
    allow_automatic_l3agent_failover = False


class Plugin:
    def __init__(self, decisions):
        self.decisions = list(decisions)
        self.asked = []

    def fail_over_dead_agents(self, agent_type):
        self.asked.append(agent_type)
        return self.decisions.pop(0)


def test_types_and_interval_follow_the_options():
    conf = Conf()
    assert enabled_types(conf) == ['DHCP agent'] and check_interval(conf) == 5
    conf.allow_automatic_l3agent_failover = True
    conf.agent_failover_interval = 0.5
    assert enabled_types(conf) == ['DHCP agent', 'L3 agent'] and check_interval(conf) == 0.5
    conf.allow_automatic_dhcp_failover = conf.allow_automatic_l3agent_failover = False
    loop = FailoverLoop(conf, Plugin([])).start()      # nothing enabled: no thread
    assert loop._thread is None
    loop.stop()


def test_a_skip_is_logged_once_until_the_reason_changes(caplog):
    none_free = failover.Decision(failed=('a',), skipped='no live agent can take it')
    moved = failover.Decision(moves=(failover.Move('n1', 'a', 'c'),), failed=('a',))
    plugin = Plugin([none_free, none_free, moved, none_free])
    loop = FailoverLoop(Conf(), plugin)
    with caplog.at_level(logging.INFO, logger='agent.controller.failover_loop'):
        for _ in range(4):
            loop.check()
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(':')[-1].strip() for line in lines] == [
        'no live agent can take it', 'moved 1 from 1 failed agent(s)',
        'no live agent can take it']
    assert plugin.asked == ['DHCP agent'] * 4


def test_after_an_outage_nothing_is_judged_for_twice_agent_down_time():
    outage = failover.Decision(failed=('a', 'b'), skipped='no live agent to take over',
                               outage=True)
    plugin = Plugin([outage, outage, failover.Decision()])
    now = [100.0]
    loop = FailoverLoop(Conf(), plugin, clock=lambda: now[0])
    loop.check()                       # the outage: held until 120
    now[0] = 119.0
    loop.check()
    assert len(plugin.asked) == 1
    now[0] = 120.0
    loop.check()                       # still an outage: held until 140
    now[0] = 139.9
    loop.check()
    assert len(plugin.asked) == 2
    now[0] = 140.0
    loop.check()
    assert len(plugin.asked) == 3
