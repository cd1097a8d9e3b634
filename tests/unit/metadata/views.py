"""InstanceViews for the metadata unit tests."""

import ipaddress

from agent.model.instance import Instance, InstanceView
from agent.model.network import FixedIP, HostRoute, Port, Subnet

DEVICE = '6ea7f4b1-3a7e-4d7a-9f0e-2c5b8a9d1e11'
NET = '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9'
NET6 = '1b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9'
PORT = 'aa11bb22-cc33-4d44-8e55-ff6677889900'
PORT2 = 'bb11bb22-cc33-4d44-8e55-ff6677889900'
SUBNET4 = 'c4c4c4c4-cc33-4d44-8e55-ff6677889900'
SUBNET6 = 'c6c6c6c6-cc33-4d44-8e55-ff6677889900'
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOnlyAUnitTestKey0000000000000000000 t@x'
ip = ipaddress.ip_address
net = ipaddress.ip_network


def instance(**kw):
    base = dict(device_id=DEVICE, name='web 1', hostname='web-1', project_id='p1',
                availability_zone='az1', user_data=b'#cloud-config\n',
                public_keys=(('mykey', KEY),), vendor_data='{}')
    base.update(kw)
    return Instance(**base)


def view(inst=None, dhcp_server=False, floating=True, v6=False):
    subnet = Subnet(SUBNET4, NET, net('10.0.0.0/24'), 4, ip('10.0.0.1'), True,
                    ('192.0.2.53',), (HostRoute(net('172.16.0.0/12'), ip('10.0.0.254')),))
    ports = [Port(PORT, NET, 'fa:16:3e:00:00:01', (FixedIP(SUBNET4, ip('10.0.0.5')),),
                  'compute:nova', DEVICE, project_id='p1')]
    subnets = [subnet]
    if v6:
        subnets.append(Subnet(SUBNET6, NET6, net('2001:db8::/64'), 6, ip('2001:db8::1'),
                              True, ('2001:db8::53',), (), 'slaac'))
        ports.append(Port(PORT2, NET6, 'fa:16:3e:00:00:02',
                          (FixedIP(SUBNET6, ip('2001:db8::5')),), 'compute:nova', DEVICE,
                          project_id='p1', vif_type='unbound'))
    return InstanceView(inst or instance(), PORT, '10.0.0.5', tuple(ports),
                        ((NET, 1450), (NET6, 1500)), tuple(subnets),
                        ((PORT, '198.51.100.7'),) if floating else (),
                        frozenset({SUBNET4}) if dhcp_server else frozenset())
