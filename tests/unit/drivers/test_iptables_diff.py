"""Table-driven: (desired tables, observed iptables-save) -> iptables-restore -n input."""

import pytest

from agent.drivers.iptables_diff import Ownership, plan_restore
from agent.drivers.iptables_rules import TableSpec, parse_save

W = 'neutron-l3-agent'


def save(*lines, table='nat'):
    builtins = {'nat': ('PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'),
                'filter': ('INPUT', 'FORWARD', 'OUTPUT')}[table]
    head = [f'*{table}'] + [f':{b} ACCEPT [0:0]' for b in builtins]
    return parse_save('\n'.join(head + list(lines) + ['COMMIT']) + '\n')


def nat(**chains):
    return TableSpec('nat', {k.replace('_', '-').replace('W-', W + '-'): v
                             for k, v in chains.items()})


SNAT = f'{W}-snat'
FSNAT = f'{W}-float-snat'
BASE = (f':{SNAT} - [0:0]', f'-A POSTROUTING -j {SNAT}')

CASES = {
    'empty namespace: declare and add': (
        [nat(POSTROUTING=(f'-j {SNAT}',), W_snat=('-o qg-1 -j ACCEPT',))],
        save(),
        [f':{SNAT} - [0:0]', f'-I POSTROUTING 1 -j {SNAT}', f'-I {SNAT} 1 -o qg-1 -j ACCEPT']),
    'converged: nothing': (
        [nat(POSTROUTING=(f'-j {SNAT}',), W_snat=('-o qg-1 -j ACCEPT',))],
        save(*BASE, f'-A {SNAT} -o qg-1 -j ACCEPT'),
        []),
    'one rule appended, the others untouched': (
        [nat(POSTROUTING=(f'-j {SNAT}',), W_snat=('-s 1.1.1.1/32 -j ACCEPT',
                                                   '-s 2.2.2.2/32 -j ACCEPT'))],
        save(*BASE, f'-A {SNAT} -s 1.1.1.1/32 -j ACCEPT'),
        [f'-I {SNAT} 2 -s 2.2.2.2/32 -j ACCEPT']),
    'chains going away: all flushed before any is deleted': (
        [nat(POSTROUTING=())],
        save(*BASE, f':{FSNAT} - [0:0]', f'-A {SNAT} -j {FSNAT}',
             f'-A {FSNAT} -s 1.1.1.1/32 -j ACCEPT'),
        [f'-D POSTROUTING -j {SNAT}', f'-F {SNAT}', f'-F {FSNAT}', f'-X {SNAT}', f'-X {FSNAT}']),
    'duplicates of ours in a built-in chain: all removed by rule, wanted one re-added': (
        [nat(POSTROUTING=(f'-j {SNAT}',), W_snat=())],
        save(f':{SNAT} - [0:0]', f'-A POSTROUTING -j {SNAT}', '-A POSTROUTING -j ACCEPT',
             f'-A POSTROUTING -j {SNAT}'),
        [f'-D POSTROUTING -j {SNAT}', f'-D POSTROUTING -j {SNAT}',
         f'-I POSTROUTING 1 -j {SNAT}']),
    'one rule removed from the middle by index': (
        [nat(POSTROUTING=(f'-j {SNAT}',), W_snat=('-s 1.1.1.1/32 -j ACCEPT',
                                                   '-s 3.3.3.3/32 -j ACCEPT'))],
        save(*BASE, f'-A {SNAT} -s 1.1.1.1/32 -j ACCEPT', f'-A {SNAT} -s 2.2.2.2/32 -j ACCEPT',
             f'-A {SNAT} -s 3.3.3.3/32 -j ACCEPT'),
        [f'-D {SNAT} 2']),
    'chain of ours no longer wanted: jumps removed, flushed, deleted': (
        [nat(POSTROUTING=(f'-j {SNAT}',), W_snat=())],
        save(*BASE, f':{FSNAT} - [0:0]', f'-A {SNAT} -j {FSNAT}',
             f'-A {FSNAT} -s 1.1.1.1/32 -j ACCEPT'),
        [f'-D {SNAT} 1', f'-F {FSNAT}', f'-X {FSNAT}']),
    'foreign rules and chains are left alone': (
        [nat(POSTROUTING=(f'-j {SNAT}',), W_snat=())],
        save(':foreign - [0:0]', f':{SNAT} - [0:0]', '-A POSTROUTING -j foreign',
             f'-A POSTROUTING -j {SNAT}', '-A foreign -j ACCEPT'),
        # ours must be on top: moved above the foreign jump without deleting it
        [f'-D POSTROUTING -j {SNAT}', f'-I POSTROUTING 1 -j {SNAT}']),
    'our rule already on top of a foreign one': (
        [nat(POSTROUTING=(f'-j {SNAT}',), W_snat=())],
        save(':foreign - [0:0]', f':{SNAT} - [0:0]', f'-A POSTROUTING -j {SNAT}',
             '-A POSTROUTING -j foreign'),
        []),
    'flushed table is repaired': (
        [nat(POSTROUTING=(f'-j {SNAT}',), W_snat=('-o qg-1 -j ACCEPT',))],
        save(f':{SNAT} - [0:0]'),
        [f'-I POSTROUTING 1 -j {SNAT}', f'-I {SNAT} 1 -o qg-1 -j ACCEPT']),
    'another wrap name is foreign': (
        [nat(POSTROUTING=(f'-j {SNAT}',), W_snat=())],
        save(f':{SNAT} - [0:0]', ':neutron-dhcp-age-x - [0:0]', f'-A POSTROUTING -j {SNAT}',
             '-A POSTROUTING -j neutron-dhcp-age-x'),
        []),
    'table no longer wanted: only our parts go': (
        [],
        save(*BASE, '-A POSTROUTING -o eth0 -j MASQUERADE'),
        [f'-D POSTROUTING -j {SNAT}', f'-X {SNAT}']),
    'chain of ours still used by a foreign rule is flushed, not deleted': (
        [nat(POSTROUTING=())],
        save(f':{SNAT} - [0:0]', ':foreign - [0:0]', f'-A foreign -j {SNAT}',
             f'-A {SNAT} -j ACCEPT'),
        [f'-F {SNAT}']),
    'shared chain: created, and removed when unwanted': (
        [nat(POSTROUTING=('-j neutron-postrouting-bottom',),
             neutron_postrouting_bottom=(f'-j {SNAT}',), W_snat=())],
        save(f':{SNAT} - [0:0]'),
        [':neutron-postrouting-bottom - [0:0]', '-I POSTROUTING 1 -j neutron-postrouting-bottom',
         f'-I neutron-postrouting-bottom 1 -j {SNAT}']),
    'reordering many rules flushes and re-adds': (
        [nat(W_snat=tuple(f'-s 10.0.0.{i}/32 -j ACCEPT' for i in (5, 4, 3, 2, 1)))],
        save(f':{SNAT} - [0:0]',
             *(f'-A {SNAT} -s 10.0.0.{i}/32 -j ACCEPT' for i in (1, 2, 3, 4, 5))),
        [f'-F {SNAT}'] + [f'-A {SNAT} -s 10.0.0.{i}/32 -j ACCEPT' for i in (5, 4, 3, 2, 1)]),
}


@pytest.mark.parametrize('desired, observed, expected', CASES.values(), ids=CASES.keys())
def test_plan_restore(desired, observed, expected):
    text = plan_restore(W, desired, observed)
    if not expected:
        assert text == ''
        return
    lines = text.splitlines()
    assert lines[0].startswith('#')
    assert lines[1:] == ['*nat', *expected, 'COMMIT']


def test_unowned_chain_in_desired_is_refused():
    with pytest.raises(ValueError):
        plan_restore(W, [TableSpec('nat', {'foreign': ()})], {})


@pytest.mark.parametrize('rule, ours', [
    (f'-j {W}-snat', True),
    ('-j neutron-filter-top', True),
    ('-m comment --comment "x" -j neutron-l3-agent-snat', True),
    ('-j neutron-dhcp-age-INPUT', False),
    ('-o eth0 -j MASQUERADE', False),
])
def test_ownership(rule, ours):
    assert Ownership(W).owns_rule(rule) is ours
