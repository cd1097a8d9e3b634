"""The test bed's wires: a fabric namespace with two Linux bridges, ``mgmt`` (the
management network: controller, agents, RabbitMQ) and ``phys`` (the "physical"
network that provider networks ride on, VLAN-tagged or untagged), and veth pairs
from each node, the outside world and the probes ("VMs") to them.

The bridges live in a namespace of their own, never the root namespace: with
br_netfilter loaded, a bridge in the root namespace would pass its frames
through the host's iptables.
"""

from __future__ import annotations

import subprocess

from tests.functional.helpers.testbed.node import Node

MGMT_PREFIX = '10.250.0.'        # management addresses: node index + 10
MGMT_LEN = 24


def ip(*args, check=True):
    res = subprocess.run(['ip', *map(str, args)], capture_output=True, text=True,
                         timeout=60)
    if check and res.returncode != 0:
        raise RuntimeError(f'ip {" ".join(map(str, args))}: {res.stderr.strip()}')
    return res


def ns_exec(ns, *argv, check=True, timeout=60):
    res = subprocess.run(['ip', 'netns', 'exec', ns, *map(str, argv)],
                         capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise RuntimeError(f'{ns}: {" ".join(map(str, argv))}: {res.stderr.strip()}')
    return res


class Fabric:
    def __init__(self, ns: str):
        self.ns = ns

    def create(self) -> 'Fabric':
        ip('netns', 'add', self.ns)
        ip('-n', self.ns, 'link', 'set', 'lo', 'up')
        for bridge in ('mgmt', 'phys'):
            ip('-n', self.ns, 'link', 'add', bridge, 'type', 'bridge')
            ip('-n', self.ns, 'link', 'set', bridge, 'up')
        # br_netfilter's switches are per namespace: off here (no iptables here anyway)
        for family in ('iptables', 'ip6tables', 'arptables'):
            ns_exec(self.ns, 'sysctl', '-qw', f'net.bridge.bridge-nf-call-{family}=0',
                    check=False)
        return self

    def delete(self) -> None:
        ip('netns', 'del', self.ns, check=False)

    def cable(self, bridge: str, fabric_end: str, peer: str, peer_ns: str) -> None:
        """A veth pair: ``fabric_end`` on ``bridge``, ``peer`` in ``peer_ns`` (a
        namespace name or a holder pid), both up."""
        ip('-n', self.ns, 'link', 'add', fabric_end, 'type', 'veth', 'peer', 'name', peer,
           'netns', peer_ns)
        ip('-n', self.ns, 'link', 'set', fabric_end, 'master', bridge, 'up')

    def attach_node(self, node: Node, index: int) -> str:
        """eth0 (management, addressed) and eth1 (physical, for the node's OVS) of a
        node; returns its management address."""
        address = f'{MGMT_PREFIX}{10 + index}'
        self.cable('mgmt', f'm-{node.name}', 'eth0', str(node.holder))
        self.cable('phys', f'p-{node.name}', 'eth1', str(node.holder))
        node.run('ip', 'addr', 'add', f'{address}/{MGMT_LEN}', 'dev', 'eth0')
        node.run('ip', 'link', 'set', 'eth0', 'up')
        node.run('ip', 'link', 'set', 'eth1', 'up')
        return address

    def attach_namespace(self, ns: str, short: str, vlan: int | None = None) -> str:
        """A namespace (the outside world, a probe) on the physical network: its
        eth0, or eth0.<vlan> on top of it; returns the device to use."""
        self.cable('phys', f'x-{short}', 'eth0', ns)
        ip('-n', ns, 'link', 'set', 'eth0', 'up')
        if vlan is None:
            return 'eth0'
        dev = f'eth0.{vlan}'
        ip('-n', ns, 'link', 'add', 'link', 'eth0', 'name', dev, 'type', 'vlan', 'id', vlan)
        ip('-n', ns, 'link', 'set', dev, 'up')
        return dev
