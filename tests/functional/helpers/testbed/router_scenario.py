"""A routed scenario on the test bed: a tenant VLAN network with a "VM" on the
compute node, an external network on the physical network's untagged segment
with the outside namespace as its gateway, a router (legacy or HA) with an
interface, a gateway and a floating IP for the VM; and pingers in both directions
through it (VM -> outside through SNAT, outside -> floating IP).

The network nodes' external bridges get a cable of their own (``eth2``) to the
fabric's physical bridge, untagged, as a node's external NIC: the L3 agent plugs
``qg-`` straight on the external bridge.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess

from tests.functional.helpers.host import wait_for
from tests.functional.helpers.testbed import services
from tests.functional.helpers.testbed.fabric import ip
from tests.functional.helpers.testbed.ovs import PrivateOvs
from tests.functional.helpers.testbed.pinger import Pinger

EXTERNAL_CIDR = '198.51.100.0/24'
OUTSIDE_IP = '198.51.100.1'         # the external subnet's gateway: the outside world
TENANT_CIDR = '10.66.0.0/24'
TENANT_GATEWAY = '10.66.0.1'
EXTERNAL_NIC = 'eth2'


@dataclasses.dataclass(frozen=True)
class RouterScenario:
    router_id: str
    ha: bool
    tenant_net: str
    external_net: str
    gateway_ip: str         # the router's address on the external network (SNAT)
    vm_ip: str
    floating_ip: str
    probe: str              # the VM's namespace on the compute node
    vlan: int               # the tenant network's VLAN


def wire_external_bridges(bed) -> None:
    """``eth2`` of each network node on the fabric's physical bridge and in the
    node's external bridge (idempotent per bed)."""
    for node in bed.nodes.values():
        if node.run('ip', 'link', 'show', EXTERNAL_NIC, check=False).returncode == 0:
            continue
        bed.fabric.cable('phys', f'e-{node.name}', EXTERNAL_NIC, str(node.holder))
        node.run('ip', 'link', 'set', EXTERNAL_NIC, 'up')
        PrivateOvs(node).add_port(services.EX_BRIDGE, EXTERNAL_NIC)


def _outside_address(bed) -> None:
    have = subprocess.run(['ip', '-n', bed.outside, '-o', 'addr', 'show', 'dev', 'eth0'],
                          capture_output=True, text=True).stdout
    if f' {OUTSIDE_IP}/' not in have:
        ip('-n', bed.outside, 'addr', 'add', f'{OUTSIDE_IP}/24', 'dev', 'eth0')


def _external_network(bed) -> str:
    found = bed.api('GET', '/networks?router:external=true')['networks']
    if found:
        return found[0]['id']
    net = bed.api('POST', '/networks', {'network': {
        'name': 'public', 'router:external': True, 'provider:network_type': 'flat',
        'provider:physical_network': services.PHYSNET}})['network']
    bed.api('POST', '/subnets', {'subnet': {
        'network_id': net['id'], 'cidr': EXTERNAL_CIDR, 'ip_version': 4,
        'enable_dhcp': False, 'gateway_ip': OUTSIDE_IP,
        'allocation_pools': [{'start': '198.51.100.100', 'end': '198.51.100.200'}]}})
    return net['id']


def build(bed, name: str, ha: bool | None, cidr: str = TENANT_CIDR,
          gateway: str = TENANT_GATEWAY) -> RouterScenario:
    """Everything above for router ``name`` (``ha`` None: the controller's default),
    the VM probe named ``name`` with its address and default route."""
    wire_external_bridges(bed)
    _outside_address(bed)
    external = _external_network(bed)
    net = bed.api('POST', '/networks', {'network': {'name': f'{name}-net'}})['network']
    subnet = bed.api('POST', '/subnets', {'subnet': {
        'network_id': net['id'], 'cidr': cidr, 'ip_version': 4, 'gateway_ip': gateway,
        'enable_dhcp': False}})['subnet']
    body = {'name': name, 'external_gateway_info': {'network_id': external}}
    if ha is not None:
        body['ha'] = ha
    router = bed.api('POST', '/routers', {'router': body})['router']
    bed.api('PUT', f'/routers/{router["id"]}/add_router_interface',
            {'subnet_id': subnet['id']})
    port = bed.api('POST', '/ports', {'port': {'network_id': net['id'],
                                               'name': name}})['port']
    vm_ip = port['fixed_ips'][0]['ip_address']
    fip = bed.api('POST', '/floatingips', {'floatingip': {
        'floating_network_id': external, 'port_id': port['id']}})['floatingip']
    router = bed.api('GET', f'/routers/{router["id"]}')['router']
    gateway_ip = router['external_gateway_info']['external_fixed_ips'][0]['ip_address']
    vlan = net['provider:segmentation_id']
    probe = bed.add_probe(name, port['mac_address'], vlan)
    prefix = cidr.split('/')[1]
    for argv in (('addr', 'add', f'{vm_ip}/{prefix}', 'dev', probe),
                 ('route', 'add', 'default', 'via', gateway)):
        subprocess.run(bed.in_probe(probe, 'ip', *argv), check=True, capture_output=True)
    return RouterScenario(router['id'], bool(router.get('ha')), net['id'], external,
                          gateway_ip, vm_ip, fip['floating_ip_address'], probe, vlan)


def reaches(bed, scenario: RouterScenario) -> bool:
    """One ping each way answered (VM -> outside, outside -> floating IP)."""
    vm = subprocess.run(bed.in_probe(scenario.probe, 'ping', '-c', '1', '-W', '1',
                                     OUTSIDE_IP), capture_output=True)
    out = subprocess.run(['ip', 'netns', 'exec', bed.outside, 'ping', '-c', '1', '-W', '1',
                          scenario.floating_ip], capture_output=True)
    return vm.returncode == 0 and out.returncode == 0


def wait_reachable(bed, scenario: RouterScenario, timeout: float = 120.0) -> None:
    wait_for(lambda: reaches(bed, scenario), timeout, 0.5,
             f'router {scenario.router_id}: VM -> {OUTSIDE_IP} and outside -> '
             f'{scenario.floating_ip}')


@dataclasses.dataclass
class Pingers:
    """Both directions at ``rate`` per second, logs in ``directory``."""
    snat: Pinger            # VM -> outside, through SNAT
    fip: Pinger             # outside -> floating IP

    @classmethod
    def start(cls, bed, scenario: RouterScenario, directory: str, rate: float = 10.0):
        os.makedirs(directory, exist_ok=True)
        snat = Pinger('VM -> outside (SNAT)', bed.in_probe(scenario.probe), OUTSIDE_IP,
                      os.path.join(directory, 'snat.log'), rate)
        fip = Pinger('outside -> floating IP', ['ip', 'netns', 'exec', bed.outside],
                     scenario.floating_ip, os.path.join(directory, 'fip.log'), rate)
        return cls(snat, fip)

    def both(self):
        return (self.snat, self.fip)

    def stop(self):
        """The two logs (VM -> outside, outside -> floating IP)."""
        return tuple(p.stop() for p in self.both())
