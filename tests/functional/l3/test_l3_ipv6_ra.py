"""IPv6 router advertisements: the L3 agent's radvd, on real parts.

A router with an interface on an IPv6 ``slaac`` subnet runs radvd in its
namespace; a probe VM on the integration bridge that accepts RAs configures the
SLAAC address the controller's IPAM gave its port (EUI-64 of its MAC) and a
default route via the router's link-local address, and pings the router's IPv6
gateway.  radvd is respawned when it dies, adopted by a restarted agent, reloaded (same
pid) when its config changes, and stopped with its config gone when the subnet
leaves the router.  One controller and agent for the module; the tests that take a
subnet off a router or delete one work on a router of their own, so any test runs
alone or in any order.
"""

import ipaddress
import os
import signal

import pytest

from agent.common import names
from agent.drivers import netns
from agent.l3 import radvd
from tests.functional.helpers.host import alive, in_ns, ip_json, wait_for
from tests.functional.l3.stack import L3Stack

pytestmark = pytest.mark.functional

CIDR = '2001:db8:10::/64'
GATEWAY = '2001:db8:10::1'


@pytest.fixture(scope='module')
def stack(run_id, leaks):
    # No metadata proxy: radvd is the routers' only child here.
    s = L3Stack(run_id, 'ra', leaks, agent_conf='min_rtr_adv_interval = 3\n'
                                                'max_rtr_adv_interval = 10\n'
                                                'enable_metadata_proxy = false').start()
    yield s
    s.close()


def slaac_router(stack, name, cidr, gateway):
    """A router with an interface on a new network's slaac subnet: {'net', 'sub',
    'router', 'ns', 'qr', 'conf', 'pid_file'} (radvd's config and pid file)."""
    net = stack.api('POST', '/networks', {'network': {'name': f'{name}net'}})['network']
    sub = stack.api('POST', '/subnets', {'subnet': {
        'network_id': net['id'], 'cidr': cidr, 'ip_version': 6, 'gateway_ip': gateway,
        'ipv6_ra_mode': 'slaac', 'ipv6_address_mode': 'slaac', 'enable_dhcp': False,
        'dns_nameservers': ['2001:db8::53'], 'name': f'{name}sub'}})['subnet']
    router = stack.router(f'{name}router')
    intf = stack.add_interface(router['id'], sub['id'])
    ra = radvd.RaSettings.default(stack.state_path)
    return dict(net=net, sub=sub, router=router, ns=names.router_namespace(router['id']),
                qr=names.internal_device_name(intf['port_id']),
                conf=radvd.config_path(router['id'], ra),
                pid_file=radvd.pid_file_path(router['id'], ra))


@pytest.fixture(scope='module')
def topo(stack):
    return slaac_router(stack, 'v6', CIDR, GATEWAY)


def _radvd_pid(t):
    try:
        pid = int(open(t['pid_file']).read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        argv = open(f'/proc/{pid}/cmdline', 'rb').read().split(b'\0')
    except OSError:
        return None
    return pid if argv[0] == b'radvd' and t['conf'].encode() in argv else None


def _eui64(cidr, mac):
    octets = bytearray(int(x, 16) for x in mac.split(':'))
    octets[0] ^= 0x02
    suffix = bytes(octets[:3]) + b'\xff\xfe' + bytes(octets[3:])
    return ipaddress.ip_network(cidr)[int.from_bytes(suffix, 'big')]


def _addresses(ns, dev, scope):
    return {(a['local'], a.get('tentative', False))
            for link in ip_json(ns, '-6', 'addr', 'show', 'dev', dev, 'scope', scope)
            for a in link.get('addr_info', ()) if 'local' in a}


def test_router_runs_radvd_for_the_slaac_subnet(stack, topo):
    pid = wait_for(lambda: _radvd_pid(topo), 20, 0.05, 'radvd running')
    config = open(topo['conf']).read()
    assert f'interface {topo["qr"]}' in config and f'prefix {CIDR}' in config
    assert 'AdvAutonomous on;' in config and 'RDNSS 2001:db8::53 {};' in config
    assert 'MinRtrAdvInterval 3;' in config and 'MaxRtrAdvInterval 10;' in config
    assert os.stat(topo['conf']).st_mode & 0o022 == 0   # radvd refuses writable ones
    ns = topo['ns']
    wait_for(lambda: (GATEWAY, False) in _addresses(ns, topo['qr'], 'global'), 10, 0.05,
             f'{GATEWAY} on {topo["qr"]}')
    assert in_ns(ns, 'sysctl', '-n', 'net.ipv6.conf.all.forwarding').stdout.strip() == '1'
    assert alive(pid)


def test_vm_gets_slaac_address_and_default_route_and_pings_the_router(stack, topo):
    vm, port, dev = stack.probe(topo['net']['id'], 'v6vm')
    os.makedirs(f'/etc/netns/{vm}', exist_ok=True)
    with open(f'/etc/netns/{vm}/resolv.conf', 'w') as f:
        f.write('nameserver 127.0.0.1\n')
    expected = _eui64(CIDR, port['mac_address'])
    # The controller's IPAM gave the port its EUI-64 address on the slaac subnet.
    assert [ip['ip_address'] for ip in port['fixed_ips']] == [str(expected)]
    in_ns(vm, 'sysctl', '-qw', f'net.ipv6.conf.{dev}.accept_ra=2',
          f'net.ipv6.conf.{dev}.autoconf=1')
    in_ns(vm, 'ip', 'link', 'set', dev, 'down')
    in_ns(vm, 'ip', 'link', 'set', dev, 'up')          # sends a router solicitation
    wait_for(lambda: (str(expected), False) in _addresses(vm, dev, 'global'), 30, 0.1,
             f'the SLAAC address {expected} on the VM')
    [(router_ll, _)] = _addresses(topo['ns'], topo['qr'], 'link')
    wait_for(lambda: any(r.get('gateway') == router_ll and r.get('dev') == dev
                         for r in ip_json(vm, '-6', 'route', 'show', 'default')),
             30, 0.1, f'a default route via {router_ll}')
    wait_for(lambda: stack.ping(vm, GATEWAY), 20, 0.2, f'ping {GATEWAY} from the VM')


def test_radvd_respawned_when_killed(stack, topo):
    pid = wait_for(lambda: _radvd_pid(topo), 10, 0.05, 'radvd running')
    os.kill(pid, signal.SIGKILL)
    new = wait_for(lambda: (p := _radvd_pid(topo)) != pid and p, 20, 0.1,
                   'radvd respawned')
    assert new != pid


def test_agent_restart_adopts_radvd(stack, topo):
    pid = wait_for(lambda: _radvd_pid(topo), 10, 0.05, 'radvd running')
    assert stack.stop_agent() == 0
    assert _radvd_pid(topo) == pid                     # it keeps advertising
    stack.start_agent()                                # waits for 'in sync'
    assert _radvd_pid(topo) == pid
    assert 'Started radvd' not in stack.agent_log_text()


def test_config_change_reloads_radvd(stack, topo):
    pid = wait_for(lambda: _radvd_pid(topo), 10, 0.05, 'radvd running')
    stack.api('PUT', f'/subnets/{topo["sub"]["id"]}',
              {'subnet': {'dns_nameservers': ['2001:db8::54']}})
    wait_for(lambda: 'RDNSS 2001:db8::54 {};' in open(topo['conf']).read(), 20, 0.05,
             'the new nameserver in the radvd config')
    assert _radvd_pid(topo) == pid                     # SIGHUP, not a restart
    assert 'sending SIGHUP' in stack.agent_log_text()
    stack.api('PUT', f'/subnets/{topo["sub"]["id"]}',
              {'subnet': {'dns_nameservers': ['2001:db8::53']}})
    wait_for(lambda: 'RDNSS 2001:db8::53 {};' in open(topo['conf']).read(), 20, 0.05,
             'the nameserver back in the radvd config')


def test_subnet_removed_from_router_stops_radvd(stack):
    topo = slaac_router(stack, 'gone', '2001:db8:11::/64', '2001:db8:11::1')
    wait_for(lambda: _radvd_pid(topo), 20, 0.05, 'radvd running')
    stack.api('PUT', f'/routers/{topo["router"]["id"]}/remove_router_interface',
              {'subnet_id': topo['sub']['id']})
    wait_for(lambda: _radvd_pid(topo) is None and not os.path.exists(topo['conf']),
             20, 0.05, 'radvd stopped and its config removed')
    assert not os.path.exists(topo['pid_file'])


def test_radvd_of_a_router_deleted_while_the_agent_was_down_is_stopped(stack):
    topo = slaac_router(stack, 'orphan', '2001:db8:12::/64', '2001:db8:12::1')
    rid = topo['router']['id']
    pid = wait_for(lambda: _radvd_pid(topo), 20, 0.05, 'radvd running')
    assert stack.stop_agent() == 0
    stack.api('PUT', f'/routers/{rid}/remove_router_interface',
              {'subnet_id': topo['sub']['id']})
    stack.api('DELETE', f'/routers/{rid}')
    netns.delete(topo['ns'], force=True)    # even its namespace gone: radvd runs on
    assert _radvd_pid(topo) == pid
    stack.start_agent()        # told by the queued notification or its full sync's prune
    wait_for(lambda: _radvd_pid(topo) is None and not os.path.exists(topo['conf']),
             20, 0.05, 'the orphan radvd stopped and its config removed')
    assert not alive(pid)
