"""The manager against the in-memory iptables: convergence, ownership, no-op applies."""

import random

import pytest

from agent.drivers.iptables import IptablesManager, IptablesNotConverged
from agent.drivers.iptables_fake import FakeIptables, RestoreError, apply_restore, render
from agent.drivers.iptables_rules import L3_WRAP, Tables, TableSpec, normalize_table, parse_save
from agent.l3.nat import router_tables
from tests.unit.l3.golden import fip, golden_router, golden_sections

W = L3_WRAP


def golden_state(version):
    text = golden_sections()['iptables-save' if version == 4 else 'ip6tables-save']
    return {n: {c: list(r) for c, r in t.chains.items()} for n, t in parse_save(text).items()}


def ours(state, version, desired):
    """Our part of ``state`` equals ``desired`` (normalized), chain by chain."""
    for spec in desired.by_version(version):
        spec = normalize_table(spec, version)
        for chain, rules in spec.chains.items():
            have = state[spec.name][chain]
            assert have[:len(rules)] == list(rules), (spec.name, chain)


ROUTERS = {
    'golden': golden_router(),
    'no gateway': golden_router(gw_port=None, floating_ips=()),
    'no snat': golden_router(enable_snat=False),
    'no fip': golden_router(floating_ips=()),
    'two fips': golden_router(floating_ips=(
        fip('172.24.4.162', '192.168.10.93'),
        fip('172.24.4.170', '192.168.10.94', fid='11111111-1111-4111-8111-111111111111'))),
}


@pytest.mark.parametrize('start', ROUTERS, ids=lambda k: f'from {k}')
@pytest.mark.parametrize('goal', ROUTERS, ids=lambda k: f'to {k}')
def test_any_router_state_converges_to_any_other(start, goal):
    fake = FakeIptables()
    manager = IptablesManager('qrouter-x', W, backend=fake, debug=True)
    manager.apply(router_tables(ROUTERS[start]))
    fake.restores.clear()
    result = manager.apply(router_tables(ROUTERS[goal]))
    assert result.restores == len(fake.restores) == (0 if start == goal else result.restores)
    for version in (4, 6):
        ours(fake.state[version], version, router_tables(ROUTERS[goal]))
    assert manager.apply(router_tables(ROUTERS[goal])).restores == 0


def test_golden_save_is_adopted_without_any_restore():
    fake = FakeIptables(golden_state(4), golden_state(6))
    result = IptablesManager('qrouter-x', W, backend=fake).apply(router_tables(golden_router()))
    assert result.restores == 0 and fake.restores == []


def test_random_damage_is_repaired_and_foreign_rules_survive():
    rng = random.Random(7)
    desired = router_tables(golden_router())
    for _ in range(200):
        state = golden_state(4)
        foreign = []
        for _ in range(rng.randint(1, 6)):
            table = rng.choice(sorted(state))
            chain = rng.choice(sorted(state[table]))
            rules = state[table][chain]
            action = rng.choice(['drop', 'dup', 'swap', 'foreign', 'stale'])
            if action == 'drop' and rules:
                rules.pop(rng.randrange(len(rules)))
            elif action == 'dup' and rules:
                rules.insert(rng.randrange(len(rules) + 1), rng.choice(rules))
            elif action == 'swap' and len(rules) > 1:
                i = rng.randrange(len(rules) - 1)
                rules[i], rules[i + 1] = rules[i + 1], rules[i]
            elif action == 'foreign':
                rule = f'-s 10.{rng.randrange(250)}.0.1/32 -j ACCEPT'
                rules.insert(rng.randrange(len(rules) + 1), rule)
                if not chain.startswith(W + '-'):    # our chains are wholly ours
                    foreign.append((table, chain, rule))
            elif action == 'stale':
                state[table].setdefault(f'{W}-stale', []).append('-j ACCEPT')
                state[table][chain if chain.startswith(W) else f'{W}-stale'].append('-j RETURN')
        fake = FakeIptables(state, golden_state(6))
        manager = IptablesManager('qrouter-x', W, backend=fake, debug=True)
        manager.apply(desired)
        after = fake.state[4]
        ours(after, 4, desired)
        assert all(rule in after[t][c] for t, c, rule in foreign)
        assert not any(f'{W}-stale' in chains for chains in after.values())


def test_debug_mode_catches_a_rule_the_kernel_prints_differently():
    tables = Tables(ipv4=(TableSpec('filter', {
        'INPUT': (f'-j {W}-INPUT',), f'{W}-INPUT': ('-p tcp -m tcp --dport http -j ACCEPT',)}),))

    class PrintsPortNumbers(FakeIptables):
        def save(self, version):
            return super().save(version).replace('--dport http', '--dport 80')

    with pytest.raises(IptablesNotConverged):
        IptablesManager('qrouter-x', W, backend=PrintsPortNumbers(), debug=True).apply(tables)


@pytest.mark.parametrize('text, error', [
    ('*nat\n-D POSTROUTING 1\nCOMMIT\n', 'index of deletion'),
    ('*nat\n-I POSTROUTING 2 -j ACCEPT\nCOMMIT\n', 'index of insertion'),
    ('*nat\n-A nochain -j ACCEPT\nCOMMIT\n', 'no chain'),
    ('*nat\n:a - [0:0]\n:b - [0:0]\n-A a -j b\n-X b\nCOMMIT\n', 'busy'),
    ('*nat\n:a - [0:0]\n-A a -j ACCEPT\n-X a\nCOMMIT\n', 'not empty'),
    ('*nat\n-D PREROUTING -j ACCEPT\nCOMMIT\n', 'bad rule'),
])
def test_fake_restore_errors(text, error):
    with pytest.raises(RestoreError, match=error):
        apply_restore({}, text)


def test_fake_declaring_an_existing_user_chain_flushes_it():
    state = apply_restore({}, '*nat\n:a - [0:0]\n-A a -j ACCEPT\nCOMMIT\n')
    assert apply_restore(state, '*nat\n:a - [0:0]\nCOMMIT\n')['nat']['a'] == []
    assert render(state).splitlines()[:2] == ['*nat', ':PREROUTING ACCEPT [0:0]']
