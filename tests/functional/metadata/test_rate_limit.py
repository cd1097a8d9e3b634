"""[metadata_rate_limiting] end to end (issue 10 item 7: 2000 requests from one VM
were all answered): the DHCP agent's isolated-metadata proxy, as haproxy renders
Neutron's stick tables, answers 429 to a probe past its limit while another
probe on the same network is still answered.  The proxy runs as
netnode-haproxy and the metadata socket is reachable by that group only."""

import grp
import os
import pwd
import stat
import uuid

import pytest

from tests.functional.dhcp import clients
from tests.functional.dhcp.stack import DhcpStack
from tests.functional.helpers.host import in_ns, sh, wait_for
from tests.functional.metadata.stack import curl, with_metadata_agent

pytestmark = pytest.mark.functional

LIMIT = 5
# Long windows: a loaded machine never lets the count fall back within the test.
RATE_CONF = '\n'.join(['[metadata_rate_limiting]', 'rate_limit_enabled = true',
                       'base_window_duration = 120', f'base_query_rate_limit = {LIMIT}',
                       'burst_window_duration = 120', f'burst_query_rate_limit = {LIMIT}'])


@pytest.fixture(scope='module')
def stack(run_id, leaks):
    with with_metadata_agent(DhcpStack(run_id, 'rate', leaks, agent_conf=RATE_CONF)
                             .start()) as s:
        yield s


def probe_on(s, net, subnet, name):
    probe = s.probe_create(net['id'], name=name)
    device = str(uuid.uuid4())
    port = s.api('PUT', f'/ports/{probe["id"]}', {'port': {'device_id': device}})['port']
    code, _, err = s.cli('instance-set', device, '--hostname', name)
    assert code == 0, err
    ip = port['fixed_ips'][0]['ip_address']
    ns, dev = probe['namespace'], probe['device']
    wait_for(lambda: clients.dhclient(ns, dev).get('fixed-address') == ip, 60, 0.5,
             f'a lease for {name}')
    dhcp_ip = s.dhcp_port(net['id'])['fixed_ips'][0]['ip_address']
    sh('ip', '-n', ns, 'addr', 'add', f'{ip}/24', 'dev', dev)
    sh('ip', '-n', ns, 'route', 'add', '169.254.169.254/32', 'via', dhcp_ip)
    return probe


def codes(ns, n):
    """The status codes of ``n`` requests from ``ns`` (one curl, n transfers)."""
    url = 'http://169.254.169.254/latest/meta-data/instance-id'
    res = in_ns(ns, 'curl', '-s', '-m', '10', '-w', '%{http_code}\\n',
                *(['-o', '/dev/null', url] * n), check=False, timeout=120)
    return [int(c) for c in res.stdout.split()]


def test_past_the_limit_429_for_that_probe_only(stack):
    s = stack
    net, subnet = s.create_network('rate', '10.96.0.0/24', '10.96.0.1')
    greedy = probe_on(s, net, subnet, 'greedy')
    other = probe_on(s, net, subnet, 'other')
    # the proxy answers (counted: the limit is already being used up)
    wait_for(lambda: curl(greedy['namespace'], '/latest/meta-data/instance-id')[0] == 200,
             40, 0.5, 'metadata through the isolated proxy')
    got = codes(greedy['namespace'], 3 * LIMIT)
    print(f'greedy probe, {3 * LIMIT} more requests: {got}')
    assert got.count(429) >= 2 * LIMIT and set(got) <= {200, 429}
    assert got[-1] == 429
    # another VM of the same network is unaffected
    assert codes(other['namespace'], 2) == [200, 200]
    for probe in (greedy, other):
        s.probe_delete(probe)


def test_proxy_runs_as_netnode_haproxy_and_socket_is_its_groups_only(stack):
    s = stack
    net, _ = s.create_network('rate-user', '10.97.0.0/24', '10.97.0.1')
    uid = pwd.getpwnam('netnode-haproxy').pw_uid
    marker = f'{net["id"]}.conf'.encode()
    pids = wait_for(lambda: [int(p) for p in os.listdir('/proc') if p.isdigit()
                             and _cmdline(p).startswith(b'haproxy\0')
                             and marker in _cmdline(p)], 40, 0.2, 'the network\'s proxy')
    user = [str(uid)] * 2, [str(grp.getgrnam('netnode-haproxy').gr_gid)] * 2
    # haproxy reads its config as root and drops to its user a moment later.
    wait_for(lambda: all(_ids(pid) == user for pid in pids), 20, 0.1,
             f'proxies {pids} running as netnode-haproxy')
    st = os.stat(os.path.join(s.state_path, 'metadata_proxy'))
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert grp.getgrgid(st.st_gid).gr_name == 'netnode-haproxy'
    # the proxy's own config is root's (it reads it before dropping root)
    conf_dir = os.path.join(s.state_path, 'ns-metadata-proxy')
    for name in os.listdir(conf_dir):
        assert stat.S_IMODE(os.stat(os.path.join(conf_dir, name)).st_mode) == 0o640


def _ids(pid):
    """Real and effective uid and gid of ``pid``."""
    with open(f'/proc/{pid}/status') as f:
        ids = {k: v.split() for k, v in (line.split(':\t', 1) for line in f
                                        if line.startswith(('Uid', 'Gid')))}
    return ids['Uid'][:2], ids['Gid'][:2]


def _cmdline(pid):
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return f.read()
    except OSError:
        return b''
