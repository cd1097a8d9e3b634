"""The pure parts of tools/neutron-interop.sh: names, the Nova stand-in's
signature check, ping summaries, snapshot differences, the config files."""

import hashlib
import hmac

import pytest

from agent.tools.interop import config, novameta, observe, pinger
from agent.tools.interop.settings import Settings

INSTANCE = '6f1c2a7e-8a7b-4c0e-9a55-0d1f6f0b6c11'


@pytest.fixture
def s():
    return Settings('0a1b2c', 40001, 40002, 40003, 'interop-0a1b2c')


def test_names_are_unique_to_the_run_and_fit_linux_limits(s):
    names = [s.int_bridge, s.tun_bridge, s.ex_bridge]
    assert len(set(names)) == 3
    assert all(len(n) <= 15 and '0a1b2c' in n for n in names)
    assert s.vhost == 'netnode-interop-0a1b2c'
    assert s.manager_target == 'ptcp:40002:127.0.0.1'
    assert s.run_dir == '/var/lib/netnode-interop-0a1b2c'
    assert s.venv.startswith('/var/cache/')


@pytest.mark.parametrize('run_id', ['../etc', 'ABCDEF', '12345', '1234567', ''])
def test_run_ids_are_validated_before_they_become_names(run_id):
    with pytest.raises(ValueError, match='run id'):
        Settings.new(run_id)


def test_settings_round_trip_through_the_record(s):
    assert Settings.from_dict(s.to_dict()) == s


def signed(instance, secret='sekrit', tenant='p1'):
    return {'X-Instance-ID': instance, 'X-Tenant-ID': tenant,
            'X-Instance-ID-Signature': hmac.new(secret.encode(), instance.encode(),
                                                hashlib.sha256).hexdigest()}


@pytest.mark.parametrize('headers,status', [
    (signed(INSTANCE), 200),
    (signed(INSTANCE, secret='wrong'), 403),
    ({**signed(INSTANCE), 'X-Instance-ID-Signature': ''}, 403),
    ({'X-Tenant-ID': 'p1'}, 400),
    (signed('0d7a9b4e-1111-4c0e-9a55-0d1f6f0b6c11'), 404),
])
def test_nova_stand_in_checks_the_signature(headers, status):
    code, body = novameta.answer('sekrit', {INSTANCE: 'vm1'},
                                 '/openstack/latest/meta_data.json', headers)
    assert code == status
    if status == 200:
        assert '"name": "vm1"' in body and INSTANCE in body


@pytest.mark.parametrize('text,expected', [
    ('--- 10.0.0.1 ping statistics ---\n123 packets transmitted, 120 received, '
     '2.4% packet loss, time 12300ms\n', (123, 3)),
    ('5 packets transmitted, 5 received, 0% packet loss\n', (5, 0)),
    ('ping: connect: Network is unreachable\n', (0, 0)),
])
def test_ping_summary(text, expected):
    assert pinger.summary(text) == expected


def test_snapshot_diff_names_what_changed_and_what_vanished():
    before = observe.Snapshot({'port tap1 tag': 1, 'port tap1 ofport': 7, 'pid of dnsmasq n': 9})
    after = observe.Snapshot({'port tap1 tag': 4095, 'port tap1 ofport': 7, 'port tap2 tag': 2})
    assert before.diff(after) == ['pid of dnsmasq n: 9 -> absent',
                                  'port tap1 tag: 1 -> 4095',
                                  'port tap2 tag: absent -> 2']
    assert before.diff(before) == []


def test_our_agents_are_drop_ins_under_neutron(s):
    ours = config.netnode_conf(s)
    for line in ('control_exchange = neutron', f'host = {s.host}',
                 'local_vlan_tagging = false', 'metadata_backend = nova',
                 f'integration_bridge = {s.int_bridge}', f'transport_url = {s.transport_url}'):
        assert line in ours
    server = config.neutron_conf(s)
    assert f'transport_url = {s.transport_url}' in server and 'auth_strategy = noauth' in server
    ovs = config.ovs_agent_ini(s, 40004)
    assert f'bridge_mappings = physnet1:{s.ex_bridge}' in ovs
    assert f'ovsdb_connection = tcp:127.0.0.1:{s.ovsdb_port}' in ovs
    assert all(path.startswith(s.etc + '/') for path in config.files(s, 40004))


def _retrying_agent(monkeypatch, result):
    """agent/tools/interop/ovs_agent_retry.py loaded over stand-ins for the two Neutron
    modules it imports; the OVS agent class whose method it wraps returns ``result``."""
    import importlib.util
    import sys
    import types

    class OVSNeutronAgent:
        def treat_devices_added_or_updated(self, devices, provisioning, re_added):
            return result

    agent_mod = types.ModuleType('ovs_neutron_agent')
    agent_mod.OVSNeutronAgent = OVSNeutronAgent
    cmd_mod = types.ModuleType('cmd_ovs_neutron_agent')
    cmd_mod.main = lambda: 0
    stand_ins = {'neutron.cmd.agents.ovs_neutron_agent': cmd_mod,
                 'neutron.plugins.ml2.drivers.openvswitch.agent.ovs_neutron_agent': agent_mod}
    for name, module in stand_ins.items():
        parts = name.split('.')
        for i in range(1, len(parts)):
            package = types.ModuleType('.'.join(parts[:i]))
            package.__path__ = []
            monkeypatch.setitem(sys.modules, package.__name__, package)
    for name, module in stand_ins.items():
        monkeypatch.setitem(sys.modules, name, module)
    from agent.tools.interop import services
    spec = importlib.util.spec_from_file_location('ovs_agent_retry', services.OVS_AGENT_RETRY)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    return OVSNeutronAgent()


@pytest.mark.parametrize('not_in_datapath,skipped,migrating,failed,retried', [
    ({'p1'}, [], set(), set(), {'p1'}),          # skipped for want of an ofport: retried
    ({'p1'}, [], set(), {'p2'}, {'p1', 'p2'}),   # with the server's failed devices
    ({'p1'}, ['p1'], set(), set(), set()),       # gone from the bridge: not retried
    ({'p1'}, [], {'p1'}, set(), set()),          # migrating elsewhere: not retried
    (set(), [], set(), {'p2'}, {'p2'}),          # nothing skipped: as Neutron says
])
def test_ovs_agent_retries_ports_it_skipped_for_want_of_an_ofport(
        monkeypatch, not_in_datapath, skipped, migrating, failed, retried):
    result = (skipped, set(), ['bound'], failed, not_in_datapath, migrating)
    agent = _retrying_agent(monkeypatch, result)
    got = agent.treat_devices_added_or_updated(['p1'], True, set())
    assert got[3] == retried
    assert got[:3] + got[4:] == result[:3] + result[4:]
