"""Automatic failover: which bindings leave failed agents and where they go
(agent.controller.failover.plan, a pure function)."""

from agent.controller import failover
from agent.controller.failover import AgentView, Binding, Move

DOWN = 10        # agent_down_time: dead after 10 s of silence, failed after 20 s
ALIVE, DEAD, FAILED = 1.0, 15.0, 25.0


def agent(name, silent=ALIVE, up=True):
    return AgentView(id=name, host=f'host-{name}', admin_state_up=up, silent_for=silent)


def bound(**hosted):
    """bound(a='n1 n2', b='n3') -> the bindings of resources to agents."""
    return [Binding(r, a) for a, resources in hosted.items() for r in resources.split()]


def plan(agents, bindings):
    return failover.plan(agents, bindings, DOWN)


def test_nothing_moves_while_everyone_is_alive_or_only_dead_for_a_while():
    assert plan([agent('a'), agent('b')], bound(a='n1', b='n2')) == failover.Decision()
    # Dead (no heartbeat for agent_down_time) is not failed yet.
    assert plan([agent('a', DEAD), agent('b')], bound(a='n1')).moves == ()


def test_a_failed_agents_networks_go_to_the_live_one():
    d = plan([agent('a', FAILED), agent('b')], bound(a='n1 n2'))
    assert d.moves == (Move('n1', 'a', 'b'), Move('n2', 'a', 'b'))
    assert d.failed == ('a',) and d.skipped == ''


def test_least_loaded_first_counting_what_this_round_moved():
    d = plan([agent('a', FAILED), agent('b'), agent('c')],
             bound(a='n1 n2 n3', b='x1 x2'))
    assert [m.to_agent for m in d.moves] == ['c', 'c', 'b']


def test_ties_go_to_the_first_host():
    d = plan([agent('c'), agent('a', FAILED), agent('b')], bound(a='n1'))
    assert d.moves == (Move('n1', 'a', 'b'),)


def test_an_agent_already_hosting_the_network_is_not_a_candidate():
    # dhcp_agents_per_network = 2: n1 on a (failed) and b; c takes a's place.
    d = plan([agent('a', FAILED), agent('b'), agent('c')], bound(a='n1', b='n1 x1 x2'))
    assert d.moves == (Move('n1', 'a', 'c'),)


def test_no_candidate_leaves_the_binding_in_place():
    d = plan([agent('a', FAILED), agent('b'), agent('c', FAILED)], bound(a='n1', b='n1'))
    assert d.moves == () and d.skipped.startswith('no live agent can take')
    assert not d.outage


def test_no_live_agent_at_all_moves_nothing():
    d = plan([agent('a', FAILED), agent('b', FAILED)], bound(a='n1', b='n2'))
    assert d.moves == () and d.failed == ('a', 'b')
    assert d.skipped == 'no live agent to take over' and d.outage


def test_more_than_half_dead_at_once_is_an_outage_not_failed_nodes():
    agents = [agent('a', FAILED), agent('b', FAILED), agent('c')]
    d = plan(agents, bound(a='n1', b='n2', c='n3'))
    assert d.moves == () and '2 of 3 agents look dead at once' in d.skipped and d.outage
    # One silent for less than the failure limit counts as dead too: they went
    # silent together.
    agents = [agent('a', FAILED), agent('b', DEAD), agent('c')]
    assert plan(agents, bound(a='n1', b='n2')).moves == ()


def test_agents_long_gone_with_nothing_left_do_not_count():
    gone = [agent(f'old{i}', 1e6) for i in range(5)]
    d = plan(gone + [agent('a', FAILED), agent('b')], bound(a='n1'))
    assert d.moves == (Move('n1', 'a', 'b'),)


def test_admin_down_agents_keep_their_work_and_take_none():
    assert plan([agent('a', FAILED, up=False), agent('b')], bound(a='n1')).moves == ()
    d = plan([agent('a', FAILED), agent('b', up=False), agent('c')], bound(a='n1'))
    assert d.moves == (Move('n1', 'a', 'c'),)


def test_a_revived_agent_keeps_its_work():
    assert plan([agent('a', ALIVE), agent('b')], bound(a='n1')).moves == ()


def test_routers_one_agent_each():
    d = plan([agent('l1', FAILED), agent('l2'), agent('l3')], bound(l1='r1 r2', l2='r3'))
    assert d.moves == (Move('r1', 'l1', 'l3'), Move('r2', 'l1', 'l2'))
