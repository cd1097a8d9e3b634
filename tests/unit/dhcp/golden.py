"""The golden scenario of reference/neutron-golden (qdhcp-524952ab-…)."""

import ipaddress

from agent.model import network as m

NET_ID = '524952ab-eb76-4838-8490-3a60a5746dcb'
SUBNET_ID = 'dece7751-7a25-40bd-b00b-69e4d289f04e'
DHCP_PORT_ID = 'e9f30b29-bfda-4d5e-b6fc-d5be3e94d090'
ROUTER_PORT_ID = '3c1e8a52-0f0e-4a57-9a8e-4a1f1f0c2b11'
VM_PORT_ID = '8d7f3a10-51b2-4c3e-a0b9-2f6e4d1c9a77'
GOLDEN_DIR = '/work/shared/reference/neutron-golden'

ip = ipaddress.ip_address
net = ipaddress.ip_network


def subnet(**kw):
    fields = dict(id=SUBNET_ID, network_id=NET_ID, cidr=net('192.168.10.0/24'),
                  ip_version=4, gateway_ip=ip('192.168.10.1'))
    fields.update(kw)
    return m.Subnet(**fields)


def port(port_id, mac, *ips, owner='compute:nova', **kw):
    fixed = tuple(m.FixedIP(sid, ip(a)) for sid, a in ips)
    return m.Port(id=port_id, network_id=NET_ID, mac_address=mac, fixed_ips=fixed,
                  device_owner=owner, **kw)


ROUTER_PORT = port(ROUTER_PORT_ID, 'fa:16:3e:b8:63:26', (SUBNET_ID, '192.168.10.1'),
                   owner=m.DEVICE_OWNER_ROUTER_INTF)
VM_PORT = port(VM_PORT_ID, 'fa:16:3e:b8:c1:5b', (SUBNET_ID, '192.168.10.93'))
DHCP_PORT = port(DHCP_PORT_ID, 'fa:16:3e:73:4a:f9', (SUBNET_ID, '192.168.10.2'),
                 owner=m.DEVICE_OWNER_DHCP)

NETWORK = m.Network(id=NET_ID, mtu=1450, subnets=(subnet(),),
                    ports=(ROUTER_PORT, VM_PORT, DHCP_PORT))


def golden_file(name):
    with open(f'{GOLDEN_DIR}/dhcp-files/{name}', encoding='utf-8') as f:
        return f.read()


def golden_cmdline():
    with open(f'{GOLDEN_DIR}/qdhcp-state.txt', encoding='utf-8') as f:
        for line in f:
            if line.startswith('dnsmasq '):
                return tuple(line.split())
    raise AssertionError('no dnsmasq line in qdhcp-state.txt')
