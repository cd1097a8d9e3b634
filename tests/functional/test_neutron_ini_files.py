"""An operator's Neutron ini files (tests/fixtures/neutron) work unchanged: each real
agent starts with its file read first (the run's own file after it adds only the
bus, state path, bridges and log file), serves, and logs the Neutron options it
ignores; a value it cannot honour stops it at start with the option named."""

import os
import pathlib
import subprocess
import uuid

import pytest

from tests.functional.dhcp.stack import DhcpStack, dnsmasq_pid
from tests.functional.helpers import bus
from tests.functional.helpers.host import wait_for
from tests.functional.helpers.stack_base import BIN
from tests.functional.l3.stack import L3Stack
from tests.functional.metadata.stack import MetadataAgentProcess, unix_get

pytestmark = pytest.mark.functional

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / 'fixtures' / 'neutron'


def test_dhcp_agent_with_neutron_dhcp_agent_ini(run_id, leaks):
    stack = DhcpStack(run_id, 'nini', leaks)
    stack.config_files = (str(FIXTURES / 'dhcp_agent.ini'),)
    stack.start()
    try:
        net, _subnet = stack.create_network('nini')
        wait_for(lambda: dnsmasq_pid(stack, net['id']), 30, 0.1, 'dnsmasq serving')
        log = stack.agent_log_text()
        assert 'Neutron option ignored: [AGENT] root_helper = sudo' in log
        assert 'Neutron option ignored: [privsep] helper_command' in log
        assert 'interface_driver' not in log and 'dnsmasq_some_future_option' not in log
    finally:
        stack.close()


def test_l3_agent_with_neutron_l3_agent_ini(run_id, leaks):
    stack = L3Stack(run_id, 'nini', leaks)
    stack.config_files = (str(FIXTURES / 'l3_agent.ini'),)
    stack.start()
    try:
        assert stack.agent.poll() is None
        log = stack.agent_log_text()
        assert 'Neutron option ignored: [AGENT] root_helper' in log
        # the keepalived options are the agent's own now (HA routers): not ignored,
        # and the VRRP password never logged
        assert 'ignored: [DEFAULT] ha_vrrp' not in log
        assert 'not-a-real-password' not in log
        assert 'agent_mode' not in log
    finally:
        stack.close()


class _OperatorMetadataAgent(MetadataAgentProcess):
    """The metadata agent with the operator's file read first."""

    def start(self, timeout=20.0):
        self.write_conf()
        self.proc = subprocess.Popen(
            [os.path.join(BIN, 'netnode-metadata-agent'),
             '--config-file', str(FIXTURES / 'metadata_agent.ini'),
             '--config-file', self.conf_path],
            stdout=subprocess.DEVNULL, stderr=open(self.log + '.stderr', 'ab'))
        wait_for(self._answers, timeout, 0.05, 'the metadata agent socket')
        return self.proc


def test_metadata_agent_with_neutron_metadata_agent_ini(run_id, leaks, tmp_path):
    vhost = f'netnode-{run_id}-nini-{uuid.uuid4().hex[:6]}'
    leaks.process_marker(str(tmp_path))
    bus.add_vhost(vhost)
    agent = _OperatorMetadataAgent(str(tmp_path), str(tmp_path / 'state'),
                                   bus.vhost_url(vhost), f'netnode-{run_id}-nini',
                                   f'{run_id}-nini-md')
    try:
        agent.start()
        # Nova configured as in Neutron's file: an unknown instance is Nova's
        # business, the agent answers (404: no port with that address)
        status, _body = unix_get(agent.socket_path, '/openstack',
                                 {'X-Forwarded-For': '192.0.2.77',
                                  'X-Neutron-Network-ID': str(uuid.uuid4())})
        assert status in (404, 503)
        log = open(agent.log, errors='replace').read()
        assert 'documents from nova' in log
        assert 'Neutron option ignored: [DEFAULT] metadata_workers = 2' in log
        assert 'Neutron option ignored: [cache] enabled = True' in log
        assert 'not-a-real-secret' not in log
    finally:
        agent.stop()
        bus.delete_vhost(vhost, check=False)


@pytest.mark.parametrize('binary,fixture,line,option', [
    ('netnode-l3-agent', 'l3_agent.ini', 'agent_mode = dvr_snat', 'agent_mode'),
    ('netnode-dhcp-agent', 'dhcp_agent.ini', 'interface_driver = linuxbridge',
     'interface_driver'),
    ('netnode-dhcp-agent', 'dhcp_agent.ini', 'dhcp_driver = my.Driver', 'dhcp_driver'),
    ('netnode-metadata-agent', 'metadata_agent.ini', 'nova_client_cert = /etc/c.pem',
     'nova_client_cert'),
])
def test_agent_refuses_what_it_cannot_honour(binary, fixture, line, option, tmp_path):
    """Refused before it touches anything: no bus, bridge or namespace needed."""
    own = tmp_path / 'own.ini'
    own.write_text(f'[DEFAULT]\nstate_path = {tmp_path}/state\n{line}\n')
    res = subprocess.run([os.path.join(BIN, binary), '--config-file', str(FIXTURES / fixture),
                          '--config-file', str(own)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stderr[-2000:]
    assert f'cannot honour [DEFAULT] {option} = ' in res.stderr
    assert not os.path.exists(tmp_path / 'state')
