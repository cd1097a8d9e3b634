"""A stand-in for Neutron's Open vSwitch agent binding ports on the integration bridge
(what it writes to a Port row), a VM tap as Nova plugs it, and the OVSDB fields an
agent must leave alone beside them (agent.dataplane.ownership), read with
ovs-vsctl."""

from __future__ import annotations

import json

from agent.common import names
from agent.dataplane import ownership
from tests.functional.helpers.host import ovs_vsctl, wait_for

PORT_COLUMNS = ('_uuid', *ownership.L2_AGENT_PORT_COLUMNS)
INTERFACE_COLUMNS = ('_uuid', 'ofport', 'external_ids')


def bind(port_name: str, network_id: str, tag: int, segmentation_id: int = 101) -> None:
    """What the OVS agent does when it binds a port: its local VLAN, its
    other_config keys, and the dead VLAN's vlan_mode/trunks cleared."""
    other_config = {'net_uuid': network_id, 'network_type': 'vlan',
                    'physical_network': 'physnet1', 'segmentation_id': segmentation_id,
                    'tag': tag}
    assert set(other_config) == set(ownership.L2_AGENT_OTHER_CONFIG)
    ovs_vsctl('set', 'Port', port_name, f'tag={tag}',
              *(f'other_config:{k}={v}' for k, v in other_config.items()),
              '--', 'clear', 'Port', port_name, 'vlan_mode', 'trunks')


def plug_vm_tap(bridge: str, port: dict, tag: int) -> str:
    """A VM's port as Nova/os-vif plug it (``tap`` + port id, iface-id, attached-mac,
    vm-uuid), bound by the stand-in on ``tag``; returns its name."""
    name = names.tap_name(port['id'])
    ovs_vsctl('add-port', bridge, name, '--', 'set', 'Interface', name, 'type=internal',
              f'external_ids:iface-id={port["id"]}', 'external_ids:iface-status=active',
              f'external_ids:attached-mac={port["mac_address"]}',
              f'external_ids:vm-uuid={port["device_id"]}')
    bind(name, port['network_id'], tag)
    wait_for(lambda: ofport(name), 10, 0.05, f'{name} has an ofport')
    return name


def _row(table: str, name: str, columns) -> dict:
    data = json.loads(ovs_vsctl('--format=json', f'--columns={",".join(columns)}',
                                'list', table, name))
    return dict(zip(data['headings'], data['data'][0]))


def ofport(name: str) -> int | None:
    """The interface's ofport; None until ovs-vswitchd has numbered it, and while
    the row does not exist yet (the agent's plug not committed: under load it may
    come after other signs of the network, such as its dnsmasq)."""
    data = json.loads(ovs_vsctl('--format=json', '--columns=ofport', '--if-exists',
                                'list', 'Interface', name))
    value = data['data'][0][0] if data['data'] else None
    return value if isinstance(value, int) and value > 0 else None


def snapshot(port_names) -> dict:
    """name -> the Port and Interface fields that must not change (the row uuids
    tell a port deleted and added again)."""
    return {name: {**{f'port.{k}': v for k, v in _row('Port', name, PORT_COLUMNS).items()},
                   **{f'iface.{k}': v for k, v in
                      _row('Interface', name, INTERFACE_COLUMNS).items()}}
            for name in port_names}


def ports_on(bridge: str) -> set:
    return set(ovs_vsctl('list-ports', bridge).split())


def beside_an_l2_agent(stack_class):
    """``stack_class`` (an AgentStack) whose agent leaves the tags to an L2 agent."""
    class Stack(stack_class):
        def agent_options(self):
            default, agent, ovs = super().agent_options()
            return default, agent, (*ovs, 'local_vlan_tagging = false')
    Stack.__name__ = f'{stack_class.__name__}BesideAnL2Agent'
    return Stack


def wait_full_syncs(stack, done_line: str, count: int, timeout: float = 60) -> None:
    """Until the agent's log shows ``count`` more ``done_line`` (full syncs done)."""
    def done():
        return stack.agent_log_text(since_start=False).count(done_line)
    start = done()
    wait_for(lambda: done() >= start + count, timeout, 0.2, f'{count} more full syncs')
