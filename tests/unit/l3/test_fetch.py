"""The full-sync fetch: a malformed router is kept (None), the others still come."""

from agent.l3.agent import fetch_routers, router_key
from agent.rpc.codec import WireError
from tests.unit.l3.golden import golden_router

GOOD = golden_router()
BAD_ID = '0e0e0e0e-0000-4000-8000-000000000001'
INTERNAL_ONLY = golden_router(id='0e0e0e0e-0000-4000-8000-000000000002', gw_port=None)


class Plugin:
    """The two L3PluginApi calls the fetch uses, over a fixed set of routers."""

    def __init__(self, routers, bad=()):
        self.routers = {r.id: r for r in routers}
        self.bad = set(bad)
        self.calls = []

    def get_router_ids(self):
        return sorted(set(self.routers) | self.bad)

    def sync_routers(self, ids):
        self.calls.append(list(ids))
        if self.bad.intersection(ids):
            raise WireError('router', 'gw_port.mac_address', 'not a MAC')
        return [self.routers[i] for i in ids]

    def sync_routers_chunked(self, ids):
        return self.sync_routers(ids)


def test_all_good_in_one_call():
    plugin = Plugin([GOOD, INTERNAL_ONLY])
    got = fetch_routers(plugin, lambda r: r.gw_port is not None)
    assert got == {router_key(GOOD.id): GOOD}
    assert len(plugin.calls) == 1


def test_a_bad_router_is_kept_and_the_others_fetched_one_by_one():
    plugin = Plugin([GOOD], bad=[BAD_ID])
    got = fetch_routers(plugin, lambda r: True)
    assert got == {router_key(GOOD.id): GOOD, router_key(BAD_ID): None}
    assert len(plugin.calls) == 3
