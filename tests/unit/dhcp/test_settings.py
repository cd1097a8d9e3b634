from agent.conf import service
from agent.dhcp.settings import DnsmasqSettings


def test_defaults_match_neutron():
    conf = service.make_conf([], groups=service.DHCP_AGENT_GROUPS)
    assert DnsmasqSettings.from_conf(conf) == DnsmasqSettings(state_path=conf.state_path)


def test_from_dhcp_agent_ini(tmp_path):
    ini = tmp_path / 'dhcp_agent.ini'
    ini.write_text('[DEFAULT]\n'
                   'state_path = /srv/nn\n'
                   'dns_domain = example.org\n'
                   'dhcp_lease_duration = -1\n'
                   'dnsmasq_dns_servers = 8.8.8.8, 1.1.1.1\n'
                   'enable_isolated_metadata = true\n'
                   'dhcp_renewal_time = 300\n')
    conf = service.make_conf(['--config-file', str(ini)],
                             groups=service.DHCP_AGENT_GROUPS)
    settings = DnsmasqSettings.from_conf(conf)
    assert settings == DnsmasqSettings(
        state_path='/srv/nn', dns_domain='example.org', lease_duration=-1,
        dns_servers=('8.8.8.8', '1.1.1.1'), enable_isolated_metadata=True,
        renewal_time=300)
    assert settings.confs_dir == '/srv/nn/dhcp' and settings.lease == 'infinite'
