"""Neutron's ini files carry over: the decision on the Neutron options netnode
recognises (a table of values → errors / ignored), and the real parse of an
operator's files (tests/fixtures/neutron) with each agent's option groups."""

import pathlib

import pytest
from oslo_config import cfg

from agent.cmd import run
from agent.conf import neutron_compat as nc
from agent.conf import service

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / 'fixtures' / 'neutron'

L3 = {o.key: o for o in nc.L3}
DHCP = {o.key: o for o in nc.DHCP}
METADATA = {o.key: o for o in nc.METADATA}


def verdict(table, **given):
    """decide() on ``table`` with ``given`` as ``group__name=value``."""
    values = {tuple(k.split('__')) if '__' in k else ('DEFAULT', k): v
              for k, v in given.items()}
    return nc.decide(values, table.values())


# (options, what the operator set, options named in errors, options named as ignored)
CASES = [
    (L3, {}, [], []),
    (L3, {'interface_driver': 'openvswitch'}, [], []),
    (L3, {'interface_driver': 'neutron.agent.linux.interface.OVSInterfaceDriver'}, [], []),
    (L3, {'interface_driver': 'linuxbridge'}, ['interface_driver'], []),
    (DHCP, {'interface_driver': 'neutron.agent.linux.interface.BridgeInterfaceDriver'},
     ['interface_driver'], []),
    (L3, {'interface_driver': ''}, ['interface_driver'], []),
    (L3, {'agent_mode': 'legacy'}, [], []),
    (L3, {'agent_mode': 'dvr'}, ['agent_mode'], []),
    (L3, {'agent_mode': 'dvr_snat'}, ['agent_mode'], []),
    (L3, {'agent_mode': 'dvr_no_external'}, ['agent_mode'], []),
    (L3, {'l3_ha': False}, [], []),
    (L3, {'l3_ha': True}, [], ['l3_ha']),                       # the server's option
    (L3, {'ha_keepalived_state_change_server_threads': 1}, [], []),   # the default
    (L3, {'ha_keepalived_state_change_server_threads': 4}, [],
     ['ha_keepalived_state_change_server_threads']),
    (L3, {'AGENT__extensions': []}, [], []),
    (L3, {'AGENT__extensions': ['port_forwarding']}, ['extensions'], []),
    (L3, {'cleanup_on_shutdown': True}, ['cleanup_on_shutdown'], []),
    (L3, {'router_id': 'a1b2'}, [], ['router_id']),
    (L3, {'ipv6_gateway': 'fe80::1'}, ['ipv6_gateway'], []),
    (DHCP, {'dhcp_driver': 'neutron.agent.linux.dhcp.Dnsmasq'}, [], []),
    (DHCP, {'dhcp_driver': 'my.own.Driver'}, ['dhcp_driver'], []),
    (DHCP, {'enable_metadata_network': True}, ['enable_metadata_network'], []),
    (DHCP, {'dnsmasq_base_log_dir': '/var/log/neutron/dnsmasq'}, [],
     ['dnsmasq_base_log_dir']),
    (DHCP, {'AGENT__root_helper': 'sudo neutron-rootwrap /etc/neutron/rootwrap.conf',
            'AGENT__root_helper_daemon': 'sudo neutron-rootwrap-daemon x',
            'AGENT__use_helper_for_ns_read': False,
            'privsep__helper_command': 'sudo privsep-helper'}, [],
     ['root_helper', 'root_helper_daemon', 'use_helper_for_ns_read', 'helper_command']),
    (METADATA, {'metadata_workers': 4, 'cache__enabled': True}, [],
     ['metadata_workers', 'enabled']),
    (METADATA, {'nova_client_cert': '/etc/nova/client.pem'}, ['nova_client_cert'], []),
    (METADATA, {'auth_ca_cert': ''}, [], []),
    # several at once: every refusal is named, and the ignored ones still listed
    (L3, {'agent_mode': 'dvr', 'cleanup_on_shutdown': True, 'AGENT__root_helper': 'sudo x'},
     ['agent_mode', 'cleanup_on_shutdown'], ['root_helper']),
]


@pytest.mark.parametrize('table,given,errors,ignored', CASES)
def test_decide(table, given, errors, ignored):
    found = verdict(table, **given)
    assert [line.split(' = ')[0].split('] ')[1] for line in found.errors] == errors
    assert [line.split(' = ')[0].split('] ')[1] for line in found.ignored] == ignored


def test_errors_name_group_option_value_and_why():
    found = verdict(L3, agent_mode='dvr_snat')
    assert found.errors == (
        '[DEFAULT] agent_mode = dvr_snat: netnode runs centralised (legacy) routers '
        'only: no DVR',)


def test_secret_values_are_not_shown():
    option = nc.NeutronOption('DEFAULT', cfg.StrOpt('some_password', secret=True),
                              'not used here')
    found = nc.decide({('DEFAULT', 'some_password'): 'hunter2'}, [option])
    assert found.ignored == ('[DEFAULT] some_password = ****: not used here',)


def test_option_netnode_implements_is_left_to_it():
    """An option another module of ours registered first is ours: no rule applies."""
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.StrOpt('interface_driver', default='openvswitch'))
    conf.register_opt(cfg.IntOpt('timeout_connect', default=30), group='metadata_haproxy')
    mine = {o.key for o in nc.register(conf, nc.DHCP)}
    assert ('DEFAULT', 'interface_driver') not in mine
    assert ('metadata_haproxy', 'timeout_connect') not in mine
    assert ('DEFAULT', 'dhcp_driver') in mine and ('AGENT', 'root_helper') in mine


@pytest.mark.parametrize('spec', [run.L3_AGENT, run.DHCP_AGENT])
def test_ovs_use_veth_is_netnode_s_own(spec):
    """Neutron's ovs_use_veth is implemented (veth pairs): no rule of this module
    refuses it, and the DHCP and L3 agents read it."""
    conf = cfg.ConfigOpts()
    service.register(conf, spec.groups)
    assert ('DEFAULT', 'ovs_use_veth') not in {o.key for o in nc.register(conf, nc.L3)}
    conf(['--config-file', '/dev/null'])
    assert conf.ovs_use_veth is False


def test_metadata_rate_limiting_is_netnode_s_own():
    """[metadata_rate_limiting] is implemented: an agent that runs proxies reads it."""
    conf = cfg.ConfigOpts()
    service.register(conf, run.DHCP_AGENT.groups)
    assert ('metadata_rate_limiting', 'rate_limit_enabled') not in {
        o.key for o in nc.register(conf, nc.DHCP)}


# -- the operator's files, parsed as each agent parses them ---------------------------

def parse(spec, tmp_path, *extra_lines, files=()):
    """run._read_conf on the fixture files plus a file of ``extra_lines``."""
    extra = tmp_path / 'extra.ini'
    extra.write_text('\n'.join(['[DEFAULT]', f'state_path = {tmp_path}', *extra_lines, '']))
    argv = [a for f in files for a in ('--config-file', str(f))]
    return run._read_conf(spec, argv + ['--config-file', str(extra)])


def test_dhcp_agent_ini_carries_over(tmp_path):
    conf, found = parse(run.DHCP_AGENT, tmp_path, files=[FIXTURES / 'dhcp_agent.ini'])
    assert found.errors == ()
    # Neutron's [DEFAULT] resync options are read where Neutron keeps them
    assert (conf.resync_interval, conf.resync_throttle, conf.num_sync_threads) == (5, 1, 4)
    assert conf.enable_isolated_metadata is True
    assert conf.dnsmasq_dns_servers == ['192.0.2.53', '192.0.2.54']
    assert conf.ovs.ovsdb_connection == 'unix:/var/run/openvswitch/db.sock'
    ignored = ' '.join(found.ignored)
    assert 'root_helper =' in ignored and 'root_helper_daemon' in ignored
    assert '[privsep] helper_command' in ignored
    assert 'dhcp_driver' not in ignored and 'interface_driver' not in ignored


def test_l3_agent_ini_carries_over(tmp_path):
    conf, found = parse(run.L3_AGENT, tmp_path, files=[FIXTURES / 'l3_agent.ini'])
    assert found.errors == ()
    assert conf.metadata_port == 9697 and conf.handle_internal_only_routers is True
    # the keepalived settings are the HA routers' own (agent.l3.keepalived)
    assert conf.ha_vrrp_auth_password == 'not-a-real-password'
    ignored = ' '.join(found.ignored)
    assert 'not-a-real-password' not in ignored
    assert 'agent_mode' not in ignored and 'ha_vrrp_auth' not in ignored


def test_metadata_agent_ini_carries_over(tmp_path):
    conf, found = parse(run.METADATA_AGENT, tmp_path, files=[FIXTURES / 'metadata_agent.ini'])
    assert found.errors == ()
    assert conf.nova_metadata_host == '127.0.0.1'
    assert nc.metadata_backend(conf) == 'nova'       # Nova configured, as Neutron's is
    assert 'metadata_workers = 2' in ' '.join(found.ignored)


@pytest.mark.parametrize('spec,fixture,line,option', [
    (run.L3_AGENT, 'l3_agent.ini', 'agent_mode = dvr_snat', 'agent_mode'),
    (run.DHCP_AGENT, 'dhcp_agent.ini', 'interface_driver = linuxbridge', 'interface_driver'),
    (run.DHCP_AGENT, 'dhcp_agent.ini', 'dhcp_driver = other.Driver', 'dhcp_driver'),
    (run.METADATA_AGENT, 'metadata_agent.ini', 'nova_client_cert = /c.pem', 'nova_client_cert'),
])
def test_refused_value_in_a_later_file(spec, fixture, line, option, tmp_path):
    _conf, found = parse(spec, tmp_path, line, files=[FIXTURES / fixture])
    assert len(found.errors) == 1 and f'] {option} = ' in found.errors[0]


def test_resync_options_still_read_from_agent_group(tmp_path):
    """netnode's own files before: [AGENT] resync_interval (deprecated name)."""
    old = tmp_path / 'old.ini'
    old.write_text('[AGENT]\nresync_interval = 7\nnum_sync_threads = 2\n')
    conf, _found = parse(run.L3_AGENT, tmp_path, files=[old])
    assert (conf.resync_interval, conf.num_sync_threads) == (7, 2)


def test_unknown_options_and_groups_are_not_fatal(tmp_path):
    odd = tmp_path / 'odd.ini'
    odd.write_text('[DEFAULT]\nno_such_option = 1\n[no_such_group]\nx = y\n'
                   '[AGENT]\nno_such_agent_option = z\n')
    for spec in (run.DHCP_AGENT, run.L3_AGENT, run.METADATA_AGENT):
        conf, found = parse(spec, tmp_path, files=[odd])
        assert found == nc.Verdict() and conf.host


def test_bad_value_of_a_recognised_option_is_a_config_error(tmp_path):
    with pytest.raises(cfg.Error):
        parse(run.L3_AGENT, tmp_path, 'l3_ha = maybe')


@pytest.mark.parametrize('lines,backend', [
    ((), 'netnode'),
    (('nova_metadata_host = 192.0.2.10',), 'nova'),
    (('metadata_proxy_shared_secret = s',), 'nova'),
    (('metadata_backend = netnode', 'nova_metadata_host = 192.0.2.10'), 'netnode'),
    (('metadata_backend = nova',), 'nova'),
])
def test_metadata_backend(lines, backend, tmp_path):
    conf, _found = parse(run.METADATA_AGENT, tmp_path, *lines)
    assert nc.metadata_backend(conf) == backend
