"""The /proc snapshot's pure parts, the agents' resolve of children, temp-file sweep."""

import os

from agent.common import fileutils
from agent.dhcp import sweep as dhcp_sweep
from agent.dhcp.settings import DnsmasqSettings
from agent.l3 import sweep as l3_sweep
from agent.l3.settings import L3Settings
from agent.process import sweep
from agent.process.scan import HostScan, Proc, children_of, names_path, owner_uuid

NET = '524952ab-eb76-4838-8490-3a60a5746dcb'
RTR = '4d7648cf-ebbd-4567-b336-bf7f0af13042'
STATE = '/var/lib/ours'
DNSMASQ = ('dnsmasq', '--no-hosts', f'--pid-file={STATE}/dhcp/{NET}/pid')


def scan_of(*procs, namespaces=()):
    return HostScan(tuple(procs), {n: 100 + i for i, n in enumerate(namespaces)}, 1)


def test_owner_uuid_needs_our_state_path_and_a_known_program():
    assert owner_uuid(Proc(5, DNSMASQ, 1), STATE) == NET
    # another agent or test run: same namespace names, another state path
    theirs = ('dnsmasq', f'--pid-file=/var/lib/theirs/dhcp/{NET}/pid')
    assert owner_uuid(Proc(5, theirs, 1), STATE) is None
    # a prefix of our state path is not it
    assert owner_uuid(Proc(5, ('dnsmasq', f'--pid-file={STATE}2/dhcp/{NET}/pid'), 1),
                      STATE) is None
    assert owner_uuid(Proc(5, ('sleep', f'{STATE}/dhcp/{NET}/pid'), 1), STATE) is None
    haproxy = ('haproxy', '-f', f'{STATE}/ns-metadata-proxy/{RTR}.conf')
    assert owner_uuid(Proc(6, haproxy, 1), STATE) == RTR
    radvd = ('radvd', '-C', f'/etc/ra/{RTR}.radvd.conf', '-p',
             f'{STATE}/external/pids/{RTR}.pid.radvd')
    assert owner_uuid(Proc(7, radvd, 1), STATE) == RTR


def test_names_path_and_namespace_of():
    proc = Proc(5, DNSMASQ, 100)
    assert names_path(proc, [f'{STATE}/dhcp/{NET}/pid'])
    assert not names_path(proc, [f'{STATE}/dhcp/{NET}/host'])
    scan = scan_of(proc, Proc(6, ('sleep',), 1), Proc(7, DNSMASQ, 555),
                   namespaces=[f'qdhcp-{NET}'])
    assert [scan.namespace_of(p) for p in scan.procs] == [f'qdhcp-{NET}', '', None]
    assert scan.in_namespace(f'qdhcp-{NET}') == (proc,)
    assert children_of(scan, STATE) == {('dnsmasq', NET): (proc, scan.procs[2])}


def test_namespaces_with_children_are_those_with_a_process_naming_our_state_path():
    ours, theirs = f'qdhcp-{NET}', f'qdhcp-{RTR}'
    scan = scan_of(Proc(5, DNSMASQ, 100),
                   Proc(6, ('dnsmasq', f'--pid-file=/other/dhcp/{RTR}/pid'), 101),
                   namespaces=[ours, theirs])
    assert sweep.namespaces_with_children(scan, STATE, 'qdhcp-') == {ours: (5,)}


def test_dhcp_resolve_leaves_router_proxies_to_the_l3_agent():
    settings = DnsmasqSettings(state_path=STATE)
    net_proxy = Proc(6, ('haproxy', '-f', f'{STATE}/ns-metadata-proxy/{NET}.conf'), 100)
    rtr_proxy = Proc(7, ('haproxy', '-f', f'{STATE}/ns-metadata-proxy/{RTR}.conf'), 101)
    scan = scan_of(Proc(5, DNSMASQ, 100), net_proxy, rtr_proxy,
                   namespaces=[f'qdhcp-{NET}', f'qrouter-{RTR}'])
    specs = {}

    def metadata_spec(uuid):
        specs[uuid] = uuid
        from agent.metadata import haproxy
        return haproxy.metadata_proxy_spec(uuid, 'network', f'qdhcp-{uuid}', STATE,
                                           '169.254.169.254', 80, 'root', 'root')

    found = dhcp_sweep.resolve(scan, settings, frozenset(), metadata_spec)
    assert [(r.spec.service, r.spec.uuid, r.wanted) for r in found] == [
        ('dnsmasq', NET, False), ('haproxy', NET, False)]
    found = l3_sweep.resolve(scan, L3Settings(state_path=STATE), frozenset({RTR}))
    assert [(r.spec.service, r.spec.uuid, r.wanted) for r in found] == [
        ('haproxy', RTR, True)]


def test_write_atomic_temp_names_are_recognised_and_swept_when_old(tmp_path):
    fileutils.write_atomic(str(tmp_path / 'opts'), 'x')
    left = tmp_path / '.opts.tmp-abcd1234'
    fresh = tmp_path / '.leases.tmp-zzzz9999'
    legacy = tmp_path / '.opts.k2j3h4g5'
    foreign = tmp_path / '.something-else'
    for path in (left, fresh, legacy, foreign):
        path.write_text('partial')
    os.utime(left, (1, 1))
    os.utime(legacy, (1, 1))
    assert fileutils.sweep_temp(str(tmp_path)) == [str(left)]
    assert fileutils.sweep_temp(str(tmp_path), legacy=('opts',)) == [str(legacy)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        '.leases.tmp-zzzz9999', '.something-else', 'opts']


def test_a_killed_write_leaves_a_recognisable_temp_name(tmp_path, monkeypatch):
    def killed(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, 'replace', killed)
    seen = []
    real_unlink = os.unlink
    monkeypatch.setattr(os, 'unlink', lambda p: seen.append(os.path.basename(p)) or
                        real_unlink(p))
    try:
        fileutils.write_atomic(str(tmp_path / 'leases'), 'x')
    except KeyboardInterrupt:
        pass
    assert len(seen) == 1 and fileutils.is_temp_name(seen[0])


def test_children_of_leaves_out_helpers_forked_by_a_child():
    radvd = ('radvd', '-p', f'{STATE}/external/pids/{RTR}.pid.radvd')
    scan = scan_of(Proc(5, radvd, 100), Proc(6, radvd, 100), Proc(9, radvd, 100))
    parents = {5: 1, 6: 5, 9: 1}
    assert children_of(scan, STATE, parent=parents.get) == {
        ('radvd', RTR): (scan.procs[0], scan.procs[2])}
