"""Pure choices of HA routers: the VRID of a new router, and which L3 agents host it.

* **VRID**: VRRP's virtual router id, 1..254 per HA network (one network per
  project, so at most 254 HA routers per project, as in Neutron).  Neutron draws a
  random free one; the lowest free one is as good (the id only needs to be unique
  on the network) and makes logs and tests reproducible.
* **Agents**: an HA router wants ``max_l3_agents_per_router`` agents (0: every live
  one), never more than there are live admin-up agents; the missing ones are the
  least-loaded live agents not hosting it yet (ties by host).  Agents that host it
  and died keep it: VRRP moves the traffic, and the agent rejoins as a backup when
  it comes back.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

VRID_MIN, VRID_MAX = 1, 254


def free_vrid(taken: Iterable[int]) -> int | None:
    """The lowest VRID not in ``taken``, or None when all 254 are."""
    used = set(taken)
    return next((vrid for vrid in range(VRID_MIN, VRID_MAX + 1) if vrid not in used), None)


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    id: str
    host: str
    load: int              # routers it hosts


def agents_wanted(max_agents: int, live: int) -> int:
    """How many agents an HA router should have: min(max_l3_agents_per_router, live)."""
    return live if max_agents == 0 else min(max_agents, live)


def agents_to_add(wanted: int, candidates: Iterable[Candidate],
                  hosting: Iterable[str]) -> tuple[str, ...]:
    """Ids of the candidates (live, admin-up agents) to add to an HA router hosted by
    ``hosting`` (agent ids, alive or not) so that it has ``wanted``, least loaded
    first."""
    hosting = set(hosting)
    missing = wanted - len(hosting)
    if missing <= 0:
        return ()
    free = sorted((c for c in candidates if c.id not in hosting),
                  key=lambda c: (c.load, c.host))
    return tuple(c.id for c in free[:missing])
