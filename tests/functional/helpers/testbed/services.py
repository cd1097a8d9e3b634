"""The netnode processes of the test bed: the controller (``netnode-server``,
SQLite in the controller node's directory) and the agents of each network node,
each with a config file in its node's directory and run inside the node."""

from __future__ import annotations

import os
import sys

from tests.functional.helpers.testbed.node import Node

BIN = os.path.dirname(sys.executable)
API_PORT = 9696
AGENT_BINS = {'dhcp': 'netnode-dhcp-agent', 'l3': 'netnode-l3-agent'}
PHYSNET = 'physnet1'
PHYS_BRIDGE = 'br-phys'
INT_BRIDGE = 'br-int'
EX_BRIDGE = 'br-ex'


def _write(path: str, lines) -> str:
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def start_server(node: Node, address: str, transport_url: str, extra: str = ''):
    base = os.path.join(node.base, 'server')
    os.makedirs(os.path.join(base, 'state'), exist_ok=True)
    conf = _write(os.path.join(base, 'netnode.conf'), [
        '[DEFAULT]', f'host = {node.host}', f'state_path = {base}/state',
        f'bind_host = {address}', f'bind_port = {API_PORT}', 'enable_rpc = true',
        f'transport_url = {transport_url}', 'rpc_response_timeout = 10', 'debug = true',
        f'log_file = {base}/server.log', 'agent_down_time = 10',
        f'network_vlan_ranges = {PHYSNET}:100:199', 'tenant_network_types = vlan', extra])
    return node.spawn(os.path.join(BIN, 'netnode-server'), '--config-file', conf,
                      log=os.path.join(base, 'server.stderr'))


def agent_conf(node: Node, kind: str, transport_url: str, ovsdb: str, extra: str = ''):
    state = node.state_path
    os.makedirs(state, mode=0o755, exist_ok=True)
    default = [f'host = {node.host}', f'state_path = {state}',
               f'transport_url = {transport_url}', 'rpc_response_timeout = 10',
               'debug = true', f'log_file = {node.base}/{kind}-agent.log',
               'resync_interval = 10', 'resync_throttle = 0.5']
    if kind == 'l3':
        default.append(f'metadata_proxy_socket = {state}/metadata_proxy')
    return _write(os.path.join(node.base, f'{kind}_agent.ini'), [
        '[DEFAULT]', *default, extra,
        '[AGENT]', 'report_interval = 2', 'check_child_processes_interval = 1',
        '[ovs]', f'integration_bridge = {INT_BRIDGE}', f'external_bridge = {EX_BRIDGE}',
        'datapath_type = netdev', f'ovsdb_connection = {ovsdb}',
        f'bridge_mappings = {PHYSNET}:{PHYS_BRIDGE}'])


def start_agent(node: Node, kind: str, conf: str):
    return node.spawn(os.path.join(BIN, AGENT_BINS[kind]), '--config-file', conf,
                      log=os.path.join(node.base, f'{kind}-agent.stderr'))
