"""HA routers as literal tables: VRID allocation, the choice of agents, the CIDR check."""

import pytest

from agent.controller.ha_plan import Candidate, agents_to_add, agents_wanted, free_vrid
from agent.controller.l3_ha import check_net_cidr


@pytest.mark.parametrize('taken,expected', [
    ([], 1),
    ([1, 2, 3], 4),
    ([2, 3], 1),
    ([1, 3], 2),
    ([0, 255, 300], 1),                       # outside 1..254: not VRIDs
    (range(1, 254), 254),
    (range(1, 255), None),                    # all 254 taken
    ([254] + list(range(1, 100)), 100),
])
def test_free_vrid(taken, expected):
    assert free_vrid(taken) == expected


@pytest.mark.parametrize('max_agents,live,expected', [
    (3, 0, 0),
    (3, 1, 1),
    (3, 2, 2),
    (3, 3, 3),
    (3, 5, 3),
    (2, 5, 2),
    (0, 5, 5),                                # 0: every live agent
    (0, 0, 0),
])
def test_agents_wanted(max_agents, live, expected):
    assert agents_wanted(max_agents, live) == expected


A, B, C, D = (Candidate('a', 'host-a', 0), Candidate('b', 'host-b', 0),
              Candidate('c', 'host-c', 0), Candidate('d', 'host-d', 0))


@pytest.mark.parametrize('wanted,candidates,hosting,expected', [
    (2, [A, B, C], [], ('a', 'b')),                                   # ties: by host
    (3, [A, B, C], [], ('a', 'b', 'c')),
    (3, [A, B], [], ('a', 'b')),                                      # fewer candidates
    (2, [A, B, C], ['a'], ('b',)),
    (2, [A, B, C], ['a', 'b'], ()),                                   # has enough
    (2, [A, B, C], ['a', 'dead'], ()),                                # a dead one counts
    (3, [A, B, C], ['a', 'dead'], ('b',)),
    (2, [Candidate('a', 'host-a', 5), B, Candidate('c', 'host-c', 1)], [],
     ('b', 'c')),                                                     # least loaded first
    (1, [D], ['a'], ()),                                              # one agent asking
    (2, [D], ['a'], ('d',)),
    (0, [A, B], [], ()),
])
def test_agents_to_add(wanted, candidates, hosting, expected):
    assert agents_to_add(wanted, candidates, hosting) == expected


@pytest.mark.parametrize('cidr,error', [
    ('169.254.192.0/18', None),
    ('10.0.0.0/29', None),
    ('10.0.0.0/30', 'at least 8 addresses'),
    ('fd00::/64', 'IPv4'),
    ('169.254.192.1/18', 'not a network'),        # host bits set
    ('nonsense', 'not a network'),
])
def test_l3_ha_net_cidr_is_checked(cidr, error):
    if error is None:
        check_net_cidr(cidr)
    else:
        with pytest.raises(ValueError, match=error):
            check_net_cidr(cidr)
