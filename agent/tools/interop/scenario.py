"""The reference scenario under neutron-server, built with the ``openstack`` CLI of
Neutron's virtualenv (one call per step, as an operator types them); the REST API
(noauth) for reads, polling and the timed churn, where the CLI's 2.5 s start-up per
call would be measured instead of the agents.

A "VM" is plugged as Nova's os-vif does it: ``tap`` + the port id on the integration
bridge, ``iface-id`` = the port id, ``attached-mac``, ``vm-uuid``, in a namespace of
the run standing in for the guest.
"""

from __future__ import annotations

import json
import os
import shlex
import uuid
from typing import Any

from agent.common import names
from agent.tools.aio import host
from agent.tools.aio.scenario import (  # noqa: F401 - the all-in-one's addresses
    PUBLIC_CIDR, PUBLIC_GATEWAY, PUBLIC_POOL, TENANT_CIDR, TENANT_GATEWAY)
from agent.tools.interop.settings import Settings

ISOLATED_CIDR = '192.168.20.0/24'
CHURN_CIDR = '192.168.30.0/24'


class Cli:
    """``openstack`` of Neutron's virtualenv against the noauth endpoint."""

    def __init__(self, s: Settings):
        self.s = s
        self.commands: list[str] = []
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith('OS_')},
                    'OS_AUTH_TYPE': 'none', 'OS_ENDPOINT': s.api_url,
                    'OS_NETWORK_ENDPOINT_OVERRIDE': s.api_url}

    def __call__(self, *args) -> Any:
        """The command's JSON output (an object or a list; None when it prints none)."""
        argv = [self.s.venv_bin('openstack'), *[str(a) for a in args], '-f', 'json']
        line = 'openstack ' + shlex.join([str(a) for a in args])
        res = host.sh(*argv, timeout=120, env=self.env)
        if res.returncode != 0:
            raise host.StepFailed(f'{line}: {(res.stderr or res.stdout).strip()[-600:]}')
        self.commands.append(line)
        text = res.stdout.strip()
        return json.loads(text) if text.startswith(('{', '[')) else None


def dhcp_port(client, net_id: str) -> dict | None:
    ports = client.list('ports', network_id=net_id, device_owner='network:dhcp')
    ports = [p for p in ports if p.get('fixed_ips')]
    return ports[0] if ports else None


def router_port(client, router_id: str, subnet_id: str, owner: str) -> dict | None:
    for port in client.list('ports', device_id=router_id, device_owner=owner):
        if any(ip['subnet_id'] == subnet_id for ip in port['fixed_ips']):
            return port
    return None


def gateway_port(client, router_id: str) -> dict | None:
    ports = client.list('ports', device_id=router_id, device_owner='network:router_gateway')
    return ports[0] if ports else None


# -- a "VM" ----------------------------------------------------------------------------------

def vm_port(cli: Cli, s: Settings, record, name: str, network: str) -> dict:
    """``openstack port create`` as Nova makes an instance's port: compute owner,
    device = the instance, bound to this host."""
    instance = str(uuid.uuid4())
    port = cli('port', 'create', name, '--network', network, '--device', instance,
               '--device-owner', 'compute:nova', '--host', s.host)
    record.add('ports', port['id'])
    return port


def plug_vm(s: Settings, record, name: str, port: dict) -> dict:
    """The port's tap on the integration bridge in the "guest" namespace; returns the
    dict the aio checks take (``namespace``, ``device``)."""
    port_id = names.validate_uuid(port['id'], 'port id')
    dev, ns = names.device_name('tap', port_id), s.vm_ns(name)
    record.add('namespaces', ns)
    host.sh('ip', 'netns', 'add', ns, check=True)
    host.in_ns(ns, 'ip', 'link', 'set', 'lo', 'up', check=True)
    host.ovs('--', '--may-exist', 'add-port', s.int_bridge, dev, '--', 'set', 'Interface', dev,
             'type=internal', f'external_ids:iface-id={port_id}',
             f'external_ids:attached-mac={port["mac_address"]}',
             'external_ids:iface-status=active', f'external_ids:vm-uuid={port["device_id"]}',
             check=True)
    host.wait_for(lambda: host.sh('ip', 'link', 'show', dev, log=False).returncode == 0,
                  20, 0.05, f'device {dev}')
    host.sh('ip', 'link', 'set', dev, 'address', port['mac_address'], check=True)
    host.sh('ip', 'link', 'set', dev, 'netns', ns, check=True)
    host.in_ns(ns, 'ip', 'link', 'set', dev, 'up', check=True)
    return dict(port, namespace=ns, device=dev)
