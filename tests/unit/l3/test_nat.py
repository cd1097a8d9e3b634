"""router_tables() against the golden iptables-save of a Neutron router."""

import pytest

from agent.drivers.iptables_diff import plan_restore
from agent.drivers.iptables_rules import normalize_table, parse_save
from agent.l3.nat import NatSettings, router_tables
from tests.unit.l3.golden import (
    QG_DEV, QR_DEV, fip, golden_router, golden_rule_sets, golden_sections, rule_sets)

W = 'neutron-l3-agent'


def rendered(router, version, settings=NatSettings()):
    return [normalize_table(s, version)
            for s in router_tables(router, settings).by_version(version)]


def rules_of(router, version, table, chain, settings=NatSettings()):
    for spec in rendered(router, version, settings):
        if spec.name == table:
            return list(spec.chains.get(chain, ()))
    return []


def all_rules(router, version, settings=NatSettings()):
    return {(t.name, c, r) for t in rendered(router, version, settings)
            for c, rs in t.chains.items() for r in rs}


@pytest.mark.parametrize('version', [4, 6])
def test_golden_router_renders_the_golden_rule_sets(version):
    assert rule_sets(rendered(golden_router(), version)) == golden_rule_sets(version)


@pytest.mark.parametrize('version', [4, 6])
def test_golden_router_renders_the_golden_order_in_every_chain(version):
    golden = parse_save(golden_sections()['iptables-save' if version == 4 else 'ip6tables-save'])
    for spec in rendered(golden_router(), version):
        for chain, rules in spec.chains.items():
            assert list(golden[spec.name].chains[chain]) == list(rules), (spec.name, chain)


@pytest.mark.parametrize('version', [4, 6])
def test_golden_router_is_converged_against_the_golden_save(version):
    golden = parse_save(golden_sections()['iptables-save' if version == 4 else 'ip6tables-save'])
    assert plan_restore(W, rendered(golden_router(), version), golden) == ''


def test_router_without_gateway_has_only_internal_parts():
    router = golden_router(gw_port=None, floating_ips=())
    rules = all_rules(router, 4)
    text = ' '.join(r for _, _, r in rules)
    assert 'qg-' not in text and 'SNAT' not in text and 'DNAT' not in text
    assert rules_of(router, 4, 'nat', f'{W}-snat') == [f'-j {W}-float-snat']
    assert rules_of(router, 4, 'nat', f'{W}-POSTROUTING') == []
    assert rules_of(router, 4, 'filter', f'{W}-scope') == [
        f'-o {QR_DEV} -m mark ! --mark 0x4000000/0xffff0000 -j DROP']
    assert rules_of(router, 4, 'nat', f'{W}-PREROUTING') == [
        '-d 169.254.169.254/32 -i qr-+ -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 9697']
    assert rules_of(router, 4, 'mangle', f'{W}-mark') == []


def test_enable_snat_false():
    router = golden_router(enable_snat=False)
    snat = rules_of(router, 4, 'nat', f'{W}-snat')
    assert snat == [f'-j {W}-float-snat',
                    '-m mark ! --mark 0x2/0xffff -m conntrack --ctstate DNAT '
                    '-j SNAT --to-source 172.24.4.139 --random-fully']
    assert rules_of(router, 4, 'mangle', f'{W}-POSTROUTING') == []
    # without SNAT the gateway device is guarded by the scope mark too
    assert rules_of(router, 4, 'filter', f'{W}-scope') == [
        f'-o {QR_DEV} -m mark ! --mark 0x4000000/0xffff0000 -j DROP',
        f'-o {QG_DEV} -m mark ! --mark 0x4000000/0xffff0000 -j DROP']
    # floating IPs still work
    assert rules_of(router, 4, 'nat', f'{W}-float-snat') == [
        '-s 192.168.10.93/32 -j SNAT --to-source 172.24.4.162 --random-fully']


def test_two_floating_ips():
    router = golden_router(floating_ips=(
        fip('172.24.4.170', '192.168.10.94', fid='11111111-1111-4111-8111-111111111111'),
        fip('172.24.4.162', '192.168.10.93')))
    assert rules_of(router, 4, 'nat', f'{W}-OUTPUT') == [
        '-d 172.24.4.162/32 -j DNAT --to-destination 192.168.10.93',
        '-d 172.24.4.170/32 -j DNAT --to-destination 192.168.10.94']
    assert rules_of(router, 4, 'nat', f'{W}-PREROUTING')[1:] == [
        '-d 172.24.4.162/32 -j DNAT --to-destination 192.168.10.93',
        '-d 172.24.4.170/32 -j DNAT --to-destination 192.168.10.94']
    assert rules_of(router, 4, 'nat', f'{W}-float-snat') == [
        '-s 192.168.10.93/32 -j SNAT --to-source 172.24.4.162 --random-fully',
        '-s 192.168.10.94/32 -j SNAT --to-source 172.24.4.170 --random-fully']


def test_removing_the_floating_ip_touches_only_its_three_rules():
    golden = parse_save(golden_sections()['iptables-save'])
    text = plan_restore(W, rendered(golden_router(floating_ips=()), 4), golden)
    lines = text.splitlines()[1:]
    assert lines[0] == '*nat' and lines[-1] == 'COMMIT'
    assert sorted(lines[1:-1]) == [
        f'-D {W}-OUTPUT 1', f'-D {W}-PREROUTING 2', f'-D {W}-float-snat 1']


def test_unassociated_floating_ip_has_no_rules():
    unbound = fip('172.24.4.170', '192.168.10.94')
    unbound = type(unbound)(**{**{f: getattr(unbound, f) for f in unbound.__slots__},
                               'fixed_ip_address': None, 'port_id': None})
    assert all_rules(golden_router(floating_ips=(unbound,)), 4) == \
        all_rules(golden_router(floating_ips=()), 4)


@pytest.mark.parametrize('settings, absent, present', [
    (NatSettings(comment_rules=False), '--comment', f'-j {W}-snat'),
    (NatSettings(random_fully=False), '--random-fully', '-j SNAT --to-source 172.24.4.139'),
    (NatSettings(enable_metadata_proxy=False), '9697', 'DNAT'),
    (NatSettings(metadata_port=8775), '9697', '--to-ports 8775'),
])
def test_settings(settings, absent, present):
    text = '\n'.join(r for _, _, r in all_rules(golden_router(), 4, settings))
    assert absent not in text
    assert present in text


def test_settings_from_conf():
    from oslo_config import cfg

    from agent.conf import service
    conf = cfg.ConfigOpts()
    service.register(conf, service.L3_AGENT_GROUPS)
    conf([])
    assert NatSettings.from_conf(conf) == NatSettings()
    conf.set_override('metadata_port', 8775)
    conf.set_override('external_ingress_mark', '0x10004')
    conf.set_override('comment_iptables_rules', False, group='AGENT')
    assert NatSettings.from_conf(conf) == NatSettings(
        metadata_port=8775, external_ingress_mark=0x4, comment_rules=False)
