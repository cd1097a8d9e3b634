"""Stale-lease release (pure choice + retries over a fake driver) and the qdhcp
iptables (over the in-memory iptables backend)."""

import dataclasses

from agent.dhcp import firewall, leases
from agent.dhcp.leases import Allocation, LeaseReleaser
from agent.drivers.iptables import DHCP_WRAP, IptablesManager, IptablesManagers
from agent.drivers.iptables_fake import FakeIptables
from agent.model import network as m
from tests.unit.dhcp import golden as g

OLD_PORT = g.port('11111111-2222-4333-8444-555555555555', 'fa:16:3e:00:00:01',
                  (g.SUBNET_ID, '192.168.10.50'))
HOSTS = ('fa:16:3e:b8:c1:5b,host-192-168-10-93.openstacklocal,192.168.10.93\n'
         'fa:16:3e:00:00:01,host-192-168-10-50.openstacklocal,192.168.10.50\n'
         'fa:16:3e:00:00:02,tag:dhcpv6,id:abc,host-x.openstacklocal,[2001:db8::5],'
         'set:port-x\n'
         'fa:16:3e:00:00:03,tag:dhcpv6,set:port-y\n')
LEASES = ('1700000000 fa:16:3e:b8:c1:5b 192.168.10.93 vm 01:fa:16:3e:b8:c1:5b\n'
          '0 fa:16:3e:00:00:01 192.168.10.50 * *\n'
          'duid 00:01:00:01:aa:bb\n'
          '1700000000 1234 2001:db8::5 x 00:03:00:01:fa:16:3e:00:00:02\n')


def test_parse_leases_and_hosts():
    found = leases.parse_leases(LEASES)
    assert found['192.168.10.50'] == leases.Lease('192.168.10.50', 'fa:16:3e:00:00:01',
                                                  None)
    assert found['2001:db8::5'] == leases.Lease(
        '2001:db8::5', '1234', '00:03:00:01:fa:16:3e:00:00:02', '00:01:00:01:aa:bb')
    assert leases.parse_hosts(HOSTS) == {
        Allocation('192.168.10.93', 'fa:16:3e:b8:c1:5b'),
        Allocation('192.168.10.50', 'fa:16:3e:00:00:01'),
        Allocation('2001:db8::5', 'fa:16:3e:00:00:02', 'abc')}


def test_stale_is_what_went_away_and_a_client_id_alone_keeps_a_lease():
    found = leases.stale(leases.parse_hosts(HOSTS), leases.parse_leases(LEASES),
                         g.NETWORK)
    # .93 is still allocated (its client id is not configured on the port: kept)
    assert found == (Allocation('192.168.10.50', 'fa:16:3e:00:00:01'),
                     Allocation('2001:db8::5', 'fa:16:3e:00:00:02', 'abc'))
    still = dataclasses.replace(g.NETWORK, ports=g.NETWORK.ports + (OLD_PORT,))
    assert Allocation('192.168.10.50', 'fa:16:3e:00:00:01') not in leases.stale(
        leases.parse_hosts(HOSTS), leases.parse_leases(LEASES), still)


def test_a_deleted_port_leased_with_a_client_id_is_stale_once_per_identity():
    # The host file had the port (no client id); its client sent one (udhcpc does).
    hosts = 'fa:16:3e:00:00:01,host-192-168-10-50.openstacklocal,192.168.10.50\n'
    lease = '1700000000 fa:16:3e:00:00:01 192.168.10.50 vm 01:fa:16:3e:00:00:01\n'
    assert leases.stale(leases.parse_hosts(hosts), leases.parse_leases(lease),
                        g.NETWORK) == (
        Allocation('192.168.10.50', 'fa:16:3e:00:00:01'),
        Allocation('192.168.10.50', 'fa:16:3e:00:00:01', '01:fa:16:3e:00:00:01'))


class FakeRelease:
    """dnsmasq in memory: a release removes the lease line after ``lag`` reads."""

    def __init__(self, files, works=True):
        self.files = files
        self.calls = []
        self.works = works

    def release_v4(self, ns, iface, ip, mac, client_id=None):
        self.calls.append(('v4', ns, iface, ip, mac, client_id))
        if self.works:
            self._drop(ip)
        return self.works

    def release_v6(self, ns, iface, ip, client_id, server_id, iaid):
        self.calls.append(('v6', ns, iface, ip, client_id, server_id, iaid))
        self._drop(ip)
        return True

    def _drop(self, ip):
        self.files['leases'] = ''.join(
            line + '\n' for line in self.files['leases'].splitlines()
            if f' {ip} ' not in line)


def _releaser(files, works=True):
    driver = FakeRelease(files, works)
    slept = []
    return driver, slept, LeaseReleaser(driver, lambda p: files.get(p, ''),
                                        sleep=slept.append)


def test_release_v4_and_v6_then_the_leases_are_gone():
    files = {'host': HOSTS, 'leases': LEASES}
    driver, slept, rel = _releaser(files)
    assert rel.release_stale('qdhcp-x', 'tapx', g.NETWORK, 'host', 'leases') == ()
    assert driver.calls == [
        ('v4', 'qdhcp-x', 'tapx', '192.168.10.50', 'fa:16:3e:00:00:01', None),
        ('v6', 'qdhcp-x', 'tapx', '2001:db8::5', '00:03:00:01:fa:16:3e:00:00:02',
         '00:01:00:01:aa:bb', '1234')]
    assert '192.168.10.50' not in files['leases'] and '192.168.10.93' in files['leases']
    assert slept == []


def test_release_tries_three_times_then_warns():
    files = {'host': HOSTS, 'leases': LEASES}
    driver, slept, rel = _releaser(files, works=False)
    network = dataclasses.replace(g.NETWORK, subnets=(g.subnet(),))
    left = rel.release_stale('qdhcp-x', 'tapx', network, 'host', 'leases')
    assert '192.168.10.50' in left
    assert [c[3] for c in driver.calls if c[0] == 'v4'] == ['192.168.10.50'] * 3
    assert abs(sum(slept) - 3 * leases.RELEASE_INTERVAL) < 1e-6


def test_nothing_leased_nothing_released():
    files = {'host': HOSTS, 'leases': ''}
    driver, _, rel = _releaser(files)
    assert rel.release_stale('qdhcp-x', 'tapx', g.NETWORK, 'host', 'leases') == ()
    assert driver.calls == []


def test_lease_held_by_another_mac_is_not_released():
    # .50 moved from :01 (old host file) to a new port :99 that already holds it
    files = {'host': HOSTS, 'leases': '0 fa:16:3e:99:99:99 192.168.10.50 * *\n'}
    driver, _, rel = _releaser(files)
    new = g.port('11111111-2222-4333-8444-666666666666', 'fa:16:3e:99:99:99',
                 (g.SUBNET_ID, '192.168.10.50'))
    network = dataclasses.replace(g.NETWORK, ports=g.NETWORK.ports + (new,))
    assert rel.release_stale('qdhcp-x', 'tapx', network, 'host', 'leases') == ()
    assert driver.calls == []


def firewall_over(backend, stamp_file=None):
    """A qdhcp firewall over ``backend`` (a new one: what a restarted agent builds)."""
    return firewall.QdhcpFirewall(IptablesManagers(lambda ns: IptablesManager(
        ns, DHCP_WRAP, backend=backend, read_stamp=backend.stamp, stamp_file=stamp_file)))


def test_qdhcp_tables_have_the_checksum_rule_and_converge():
    backend = FakeIptables()
    fw = firewall_over(backend)
    assert fw.ensure('qdhcp-x')
    v4, v6 = backend.save(4), backend.save(6)
    assert ('-A neutron-dhcp-age-POSTROUTING -p udp -m udp --dport 68 -j CHECKSUM '
            '--checksum-fill') in v4
    assert ('-A neutron-dhcp-age-POSTROUTING -p udp -m udp --dport 546 -j CHECKSUM '
            '--checksum-fill') in v6
    assert '-A POSTROUTING -j neutron-dhcp-age-POSTROUTING' in v4
    restores, saves = len(backend.restores), backend.saves
    assert not fw.ensure('qdhcp-x')                 # same ruleset: not even a save
    assert backend.saves == saves
    fw.forget('qdhcp-x')
    assert not fw.ensure('qdhcp-x')                 # re-observed: nothing to restore
    assert len(backend.restores) == restores and backend.saves == saves + 2
    backend.state[4]['mangle']['neutron-dhcp-age-POSTROUTING'].clear()   # someone else
    backend.generation += 1
    assert fw.ensure('qdhcp-x') and len(backend.restores) == restores + 1


def test_a_namespace_created_just_now_is_not_saved_first_and_ends_the_same():
    fresh, observed = FakeIptables(), FakeIptables()
    for backend, created in ((fresh, True), (observed, False)):
        firewall_over(backend).ensure('qdhcp-x', created)
    assert (fresh.saves, observed.saves) == (0, 2)
    assert fresh.restores == observed.restores
    assert fresh.state == observed.state


def test_ipv6_subnet_adds_the_ipv6_metadata_address():
    from agent.dhcp import desired
    from agent.dhcp.settings import DnsmasqSettings
    v6 = m.Subnet(id='5d4e2f3a-1111-4222-8333-444455556666', network_id=g.NET_ID,
                  cidr=g.net('2001:db8::/64'), ip_version=6,
                  ipv6_address_mode='dhcpv6-stateful')
    dhcp = g.port(g.DHCP_PORT_ID, 'fa:16:3e:73:4a:f9', (g.SUBNET_ID, '192.168.10.2'),
                  (v6.id, '2001:db8::2'), owner=m.DEVICE_OWNER_DHCP)
    network = dataclasses.replace(g.NETWORK, subnets=(g.subnet(), v6),
                                  ports=(g.VM_PORT, dhcp))
    settings = DnsmasqSettings(enable_isolated_metadata=True)
    got = {str(a) for a in desired.desired_device(network, dhcp, 'br', 1,
                                                  settings).addresses}
    assert {'169.254.169.254/16', 'fe80::a9fe:a9fe/128', '2001:db8::2/64'} <= got
    v4_only = dataclasses.replace(network, subnets=(g.subnet(),))
    assert 'fe80::a9fe:a9fe/128' not in {str(a) for a in desired.desired_device(
        v4_only, dhcp, 'br', 1, settings).addresses}


def test_clean_leases_drops_what_is_no_lease():
    from agent.dhcp.leases import clean_leases
    good = b'1700000000 fa:16:3e:00:00:01 192.168.10.5 host-1 *\nduid 00:01:00:01\n'
    text, dropped = clean_leases(b'lease\0\0\0\xfe garbage\n' + good + b'\xff\xfe\n\n')
    assert dropped == 2 and text == good.decode()


def test_read_leases_rewrites_a_corrupt_file(tmp_path):
    from agent.dhcp.leases import read_leases
    path = tmp_path / 'leases'
    path.write_bytes(b'lease\0\0\0\xfe garbage\n1 fa:16:3e:00:00:01 10.0.0.5 h *\n')
    assert read_leases(str(path), 'network x') == '1 fa:16:3e:00:00:01 10.0.0.5 h *\n'
    assert path.read_bytes() == b'1 fa:16:3e:00:00:01 10.0.0.5 h *\n'
    assert read_leases(str(tmp_path / 'none'), 'network x') == ''


def test_a_restarted_agent_trusts_the_stamp_of_the_same_ruleset(tmp_path):
    backend = FakeIptables()
    stamp = str(tmp_path / 'iptables')
    assert firewall_over(backend, stamp).ensure('qdhcp-x')
    assert backend.saves == 2
    assert not firewall_over(backend, stamp).ensure('qdhcp-x')     # restarted: no save
    assert backend.saves == 2
    made_again = FakeIptables()                     # another namespace instance
    assert firewall_over(made_again, stamp).ensure('qdhcp-x')
    assert made_again.saves == 2
    open(stamp, 'w').write('8 0000000000000000\n')  # the record of an older agent
    assert not firewall_over(made_again, stamp).ensure('qdhcp-x')
    assert made_again.saves == 4
