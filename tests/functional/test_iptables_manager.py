"""The iptables manager against the kernel (nft backend), inside namespaces of our own."""

import re
import subprocess
import time
import uuid

import pytest

from agent.drivers import conntrack
from agent.drivers.iptables import IptablesManager, restore_calls
from agent.drivers.iptables_rules import L3_WRAP, Tables, TableSpec, parse_save
from agent.l3.nat import NatSettings, router_tables
from tests.unit.l3.golden import (
    QG_DEV, QR_DEV, fip, golden_router, golden_sections)

pytestmark = pytest.mark.functional

W = L3_WRAP
COUNTERS = re.compile(r'\s*\[\d+:\d+\]')
TWO_FIPS = (fip('172.24.4.162', '192.168.10.93'),
            fip('172.24.4.170', '192.168.10.94', fid='11111111-1111-4111-8111-111111111111'))


def run(*argv, check=True):
    return subprocess.run(list(argv), capture_output=True, text=True, check=check).stdout


@pytest.fixture
def namespace(leaks):
    name = leaks.namespace(f'qrouter-{uuid.uuid4()}')
    run('ip', 'netns', 'add', name)
    try:
        for dev in (QR_DEV, QG_DEV):
            # no dummy module on these machines: a tap device stands in for the port
            run('ip', '-n', name, 'tuntap', 'add', 'dev', dev, 'mode', 'tap')
            run('ip', '-n', name, 'link', 'set', dev, 'up')
        run('ip', '-n', name, 'link', 'set', 'lo', 'up')
        yield name
    finally:
        run('ip', 'netns', 'del', name, check=False)


def save(ns, version=4, counters=False):
    binary = 'iptables-save' if version == 4 else 'ip6tables-save'
    return run('ip', 'netns', 'exec', ns, binary, *(['-c'] if counters else []))


def canonical(text):
    """{table: {chain: [rules]}} plus built-in policies, without counters or comments."""
    out = {}
    for name, table in parse_save(text).items():
        out[name] = {c: list(r) for c, r in table.chains.items()}
    return out


def golden(version):
    return canonical(golden_sections()['iptables-save' if version == 4 else 'ip6tables-save'])


def ipt(ns, *args, version=4):
    run('ip', 'netns', 'exec', ns, 'iptables' if version == 4 else 'ip6tables', *args)


def timed_apply(manager, tables, label):
    start = time.monotonic()
    result = manager.apply(tables)
    elapsed = time.monotonic() - start
    print(f'\nTIMING {label}: {elapsed * 1000:.1f} ms, restores={result.restores}')
    return result


def test_golden_router_first_apply_then_noop(namespace):
    manager = IptablesManager(namespace, W)
    tables = router_tables(golden_router())
    first = timed_apply(manager, tables, 'first apply (golden router, v4+v6)')
    assert first.restores == 2 and restore_calls(namespace) == 2
    for version in (4, 6):
        assert canonical(save(namespace, version)) == golden(version)

    before = (save(namespace, 4), save(namespace, 6))
    second = timed_apply(manager, tables, 'no-op apply')
    assert second.restores == 0 and not second.changed
    assert restore_calls(namespace) == 2           # no process spawned
    strip = lambda t: [l for l in t.splitlines() if not l.startswith('#')]   # noqa: E731
    assert strip(save(namespace, 4)) == strip(before[0])
    assert strip(save(namespace, 6)) == strip(before[1])


def test_a_commit_between_observe_and_restore_has_the_rules_saved_again(namespace):
    manager = IptablesManager(namespace, W)
    manager.apply(router_tables(golden_router()))
    two = router_tables(golden_router(floating_ips=TWO_FIPS))
    seen = manager.observe(two)
    assert [line for line in seen.texts[0][1].splitlines()
            if line.startswith(f'-I {W}-PREROUTING ')] == [
        f'-I {W}-PREROUTING 3 -d 172.24.4.170/32 -j DNAT --to-destination 192.168.10.94']
    # Meanwhile someone inserts a rule at the top of that chain: the observed
    # index would put our rule after the wrong one.
    ipt(namespace, '-t', 'nat', '-I', f'{W}-PREROUTING', '1', '-s', '10.9.9.9/32',
        '-j', 'ACCEPT')
    fed = manager.restore(seen.texts)
    assert fed.restore_input != seen.texts
    assert IptablesManager(namespace, W).observe(two).converged      # saved afresh


def _counter(ns, table, line):
    in_table = False
    for raw in save(ns, 4, counters=True).splitlines():
        if raw.startswith('*'):
            in_table = raw[1:] == table
        elif in_table and raw.endswith(line) and raw.startswith('['):
            return tuple(int(n) for n in raw[1:raw.index(']')].split(':'))
    raise AssertionError(f'{line!r} not in {table}')


def test_fip_added_touches_only_changed_chains_and_keeps_counters(namespace):
    manager = IptablesManager(namespace, W)
    manager.apply(router_tables(golden_router()))
    # traffic on lo walks the OUTPUT/POSTROUTING hooks: counters become non-zero
    run('ip', 'netns', 'exec', namespace, 'ping', '-c', '2', '-i', '0.2', '127.0.0.1')
    jump = f'-A OUTPUT -j {W}-OUTPUT'
    filter_before = _counter(namespace, 'filter', jump)
    nat_before = _counter(namespace, 'nat', f'-A POSTROUTING -j {W}-POSTROUTING')
    assert filter_before[0] > 0 and nat_before[0] > 0

    calls = restore_calls(namespace)
    result = timed_apply(manager, router_tables(golden_router(floating_ips=TWO_FIPS)),
                         'one-FIP change')
    assert result.restores == 1 and restore_calls(namespace) == calls + 1
    (version, text), = result.restore_input
    assert version == 4
    body = [l for l in text.splitlines() if not l.startswith('#')]
    assert body[0] == '*nat' and body[-1] == 'COMMIT'
    assert {l.split()[1] for l in body[1:-1]} == {
        f'{W}-PREROUTING', f'{W}-OUTPUT', f'{W}-float-snat'}
    assert all(l.startswith('-I ') for l in body[1:-1])
    assert _counter(namespace, 'filter', jump) == filter_before
    assert _counter(namespace, 'nat', f'-A POSTROUTING -j {W}-POSTROUTING') == nat_before

    nat = canonical(save(namespace))['nat']
    assert '-d 172.24.4.170/32 -j DNAT --to-destination 192.168.10.94' in nat[f'{W}-PREROUTING']
    assert '-d 172.24.4.170/32 -j DNAT --to-destination 192.168.10.94' in nat[f'{W}-OUTPUT']
    assert ('-s 192.168.10.94/32 -j SNAT --to-source 172.24.4.170 --random-fully'
            in nat[f'{W}-float-snat'])

    # and back: the added FIP's rules go, the result is the golden state again
    removed = timed_apply(manager, router_tables(golden_router()), 'one-FIP removal')
    assert removed.restores == 1
    assert canonical(save(namespace)) == golden(4)
    assert _counter(namespace, 'filter', jump) == filter_before


def test_all_fips_removed(namespace):
    manager = IptablesManager(namespace, W)
    manager.apply(router_tables(golden_router()))
    manager.apply(router_tables(golden_router(floating_ips=())))
    text = save(namespace)
    assert '172.24.4.162' not in text and '192.168.10.93' not in text
    assert f'-A {W}-snat -o {QG_DEV} -j SNAT --to-source 172.24.4.139 --random-fully' in text


def test_foreign_rules_and_chains_survive(namespace):
    ipt(namespace, '-t', 'nat', '-N', 'foreign-chain')
    ipt(namespace, '-t', 'nat', '-A', 'foreign-chain', '-s', '10.9.9.9', '-j', 'ACCEPT')
    ipt(namespace, '-t', 'nat', '-A', 'POSTROUTING', '-o', 'eth9', '-j', 'MASQUERADE')
    ipt(namespace, '-t', 'filter', '-A', 'INPUT', '-s', '10.8.8.8', '-j', 'DROP')
    ipt(namespace, '-t', 'filter', '-N', 'neutron-dhcp-age-INPUT')
    manager = IptablesManager(namespace, W, debug=True)
    manager.apply(router_tables(golden_router()))
    manager.apply(router_tables(golden_router(floating_ips=TWO_FIPS)))
    state = canonical(save(namespace))
    assert state['nat']['foreign-chain'] == ['-s 10.9.9.9/32 -j ACCEPT']
    assert state['nat']['POSTROUTING'] == [
        f'-j {W}-POSTROUTING', '-j neutron-postrouting-bottom', '-o eth9 -j MASQUERADE']
    assert state['filter']['INPUT'] == [f'-j {W}-INPUT', '-s 10.8.8.8/32 -j DROP']
    assert 'neutron-dhcp-age-INPUT' in state['filter']
    calls = restore_calls(namespace)
    assert manager.apply(router_tables(golden_router(floating_ips=TWO_FIPS))).restores == 0
    assert restore_calls(namespace) == calls


def test_flushed_nat_table_is_repaired(namespace):
    manager = IptablesManager(namespace, W)
    tables = router_tables(golden_router())
    manager.apply(tables)
    ipt(namespace, '-t', 'nat', '-F')
    repaired = timed_apply(manager, tables, 'repair after nat flush')
    assert [v for v, _ in repaired.restore_input] == [4]
    assert canonical(save(namespace)) == golden(4)
    assert manager.apply(tables).restores == 0


def test_chains_of_ours_no_longer_wanted_are_deleted(namespace):
    manager = IptablesManager(namespace, W)
    manager.apply(router_tables(golden_router()))
    manager.apply(Tables(ipv4=(TableSpec('filter', {'INPUT': (f'-j {W}-INPUT',),
                                                    f'{W}-INPUT': ('-j ACCEPT',)}),)))
    state = canonical(save(namespace))
    assert [c for c in state['filter'] if W in c or c.startswith('neutron-')] == [f'{W}-INPUT']
    assert not [c for c in state['nat'] if W in c or c.startswith('neutron-')]
    assert all(not rules for rules in state['nat'].values())
    assert not [c for c in canonical(save(namespace, 6)).get('filter', {}) if W in c]


def test_comments_and_settings_round_trip(namespace):
    manager = IptablesManager(namespace, W, debug=True)
    for settings in (NatSettings(comment_rules=False, random_fully=False), NatSettings()):
        manager.apply(router_tables(golden_router(enable_snat=False), settings))
        again = manager.apply(router_tables(golden_router(enable_snat=False), settings))
        assert again.restores == 0


def test_conntrack_entries_of_a_floating_ip_are_deleted(namespace):
    run('ip', 'netns', 'exec', namespace, 'conntrack', '-I', '-p', 'udp', '-s', '192.168.10.93',
        '-d', '172.24.4.1', '--sport', '1000', '--dport', '53', '-t', '100')
    run('ip', 'netns', 'exec', namespace, 'conntrack', '-I', '-p', 'udp', '-s', '172.24.4.1',
        '-d', '172.24.4.162', '--sport', '1000', '--dport', '53', '-t', '100')
    assert conntrack.delete_entries(namespace, '172.24.4.162') == 1
    assert conntrack.delete_entries(namespace, '172.24.4.162') == 0
    assert conntrack.delete_entries(namespace, '192.168.10.93') == 1


def test_debug_mode_fails_when_the_second_apply_is_not_a_noop(namespace):
    # 'http' is printed back as 80 by iptables-save: without debug mode this rule
    # would be re-sent on every apply; debug mode catches it.
    from agent.drivers.iptables import IptablesNotConverged
    tables = Tables(ipv4=(TableSpec('filter', {
        'INPUT': (f'-j {W}-INPUT',),
        f'{W}-INPUT': ('-p tcp -m tcp --dport http -j ACCEPT',)}),))
    with pytest.raises(IptablesNotConverged):
        IptablesManager(namespace, W, debug=True).apply(tables)
    assert IptablesManager(namespace, W).apply(tables).restores == 1


def test_a_new_namespace_applied_without_saving_first_ends_the_same(leaks):
    """``empty=True`` (the caller just created the namespace) skips the saves only."""
    from agent.dhcp.firewall import dhcp_tables
    from agent.drivers.iptables_rules import DHCP_WRAP
    made = [leaks.namespace(f'qdhcp-{uuid.uuid4()}') for _ in range(2)]
    try:
        for name in made:
            run('ip', 'netns', 'add', name)
        fresh, observed = (IptablesManager(n, DHCP_WRAP) for n in made)
        assert fresh.apply(dhcp_tables(), empty=True).restores == 2
        assert observed.apply(dhcp_tables()).restores == 2
        for version in (4, 6):
            assert canonical(save(made[0], version)) == canonical(save(made[1], version))
        assert not fresh.apply(dhcp_tables()).changed
    finally:
        for name in made:
            run('ip', 'netns', 'del', name, check=False)
