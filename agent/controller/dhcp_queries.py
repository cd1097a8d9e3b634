"""The queries behind the DHCP agent's calls (neutron-agent-rpc.md §3), in the
Plugin's transaction; the endpoint is :class:`agent.controller.rpc_server.DhcpRpcCallback`."""

from __future__ import annotations

import sqlalchemy as sa

from agent.common import names
from agent.controller import events, ports, rowviews, scheduler, wire
from agent.controller import exceptions as exc
from agent.controller.agents import agent_on_host
from agent.controller.db import models
from agent.controller.txn import Txn

RESERVED_DHCP_PORT = 'reserved_dhcp_port'


def network_info(net, ports, enable_dhcp_filter: bool = True) -> dict:
    """The network-info dict: subnets sorted by id, ``ports`` (the network's, by id).

    ``net`` and ``ports`` are rows of :mod:`agent.controller.rowviews` (or models).
    """
    subnets = [wire.subnet_dict(s) for s in sorted(net.subnets, key=lambda s: s.id)
               if s.enable_dhcp or not enable_dhcp_filter]
    return {'id': net.id, 'name': net.name, 'project_id': net.project_id,
            'tenant_id': net.project_id, 'admin_state_up': net.admin_state_up,
            'subnets': subnets, 'non_local_subnets': [],
            'ports': [wire.port_dict(p) for p in ports], 'mtu': net.mtu,
            'provider:network_type': net.network_type,
            'provider:physical_network': net.physical_network,
            'provider:segmentation_id': net.segmentation_id}


def network_infos(session, ids, enable_dhcp_filter: bool = True) -> list[dict]:
    """Network-info dicts of the networks of ``ids`` that exist, by id (a few queries)."""
    nets = rowviews.networks(session, ids)
    ports = rowviews.ports_of_networks(session, [n.id for n in nets])
    return [network_info(net, ports.get(net.id, []), enable_dhcp_filter) for net in nets]


def one_network_info(txn: Txn, network_id: str) -> dict | None:
    infos = network_infos(txn.session, [network_id])
    return infos[0] if infos else None


def schedule_unhosted_networks(txn: Txn, host: str) -> None:
    """Networks needing DHCP that no agent hosts go to this host's live agent."""
    agent = agent_on_host(txn, scheduler.DHCP_AGENT, host)
    if agent is None or not agent.admin_state_up or \
            not scheduler.is_alive(agent, txn.conf.agent_down_time):
        return
    for network_id in scheduler.unhosted_dhcp_networks(txn.session):
        scheduler.schedule_network(txn.session, network_id, txn.conf, [agent])


def has_unhosted_networks(txn: Txn) -> bool:
    return bool(scheduler.unhosted_dhcp_networks(txn.session))


def active_networks_info(txn: Txn, host: str, enable_dhcp_filter: bool) -> list[dict]:
    """Network-info dicts of the admin-up networks on this host's DHCP agent."""
    agent = agent_on_host(txn, scheduler.DHCP_AGENT, host)
    if agent is None:
        return []
    ids = txn.session.scalars(
        sa.select(models.Network.id)
        .join(models.NetworkDhcpAgentBinding,
              models.NetworkDhcpAgentBinding.network_id == models.Network.id)
        .where(models.NetworkDhcpAgentBinding.dhcp_agent_id == agent.id,
               models.Network.admin_state_up.is_(True))
        .order_by(models.Network.id)).all()
    return network_infos(txn.session, ids, enable_dhcp_filter)


def _dhcp_body(port: dict, host: str) -> dict:
    body = dict(port.get('port', port))
    if body.get('project_id'):
        body.pop('tenant_id', None)
    if body.get('mac_address') is None:
        body.pop('mac_address', None)
    body['device_owner'] = wire.DEVICE_OWNER_DHCP
    body['binding:host_id'] = host
    return body


def create_dhcp_port(txn: Txn, port: dict, host: str) -> dict | None:
    body = _dhcp_body(port, host)
    net = txn.session.get(models.Network, body.get('network_id') or '')
    if net is None:
        return None
    subnets = ports.network_subnets(txn, net.id)     # loaded once, allocation uses them
    if isinstance(body.get('fixed_ips'), list):
        # A subnet deleted meanwhile is dropped, not an error: the agent resyncs.
        body['fixed_ips'] = [ip for ip in body['fixed_ips']
                             if not isinstance(ip, dict) or 'subnet_id' not in ip
                             or ip['subnet_id'] in subnets]
    row = ports.create_port_row(txn, body, status='ACTIVE', subnets=subnets, network=net)
    result = wire.port_dict(row)
    events.port_created(txn, result, creator=host)
    return result


def update_dhcp_port(txn: Txn, port_id: str, port: dict, host: str) -> dict | None:
    row = txn.load(models.Port, port_id, lock=True)
    hosts = {a.host for a in scheduler.dhcp_agents_of_network(txn.session, row.network_id,
                                                              admin_up_only=False)}
    if host not in hosts:
        raise exc.NetworkNotFound(f'Network {row.network_id} could not be found.')
    ours = names.dhcp_port_device_id(host, row.network_id)
    if row.device_id not in (RESERVED_DHCP_PORT, ours):
        return None
    body = _dhcp_body(port, host)
    body.pop('device_owner')
    before, after = ports.update_port_row(txn, row, body)
    if row.status != 'ACTIVE':
        row.status = 'ACTIVE'
        after['status'] = 'ACTIVE'
    if any(before[f] != after[f] for f in ports.DHCP_NOTIFY_FIELDS):
        events.to_dhcp_agents(txn, row.network_id, 'port_update_end', {'port': after})
    return after


def release_dhcp_port(txn: Txn, network_id: str, device_id: str) -> None:
    for row in txn.session.scalars(sa.select(models.Port).where(
            models.Port.network_id == network_id, models.Port.device_id == device_id)):
        ports.delete_port_row(txn, row)


def dhcp_ready_on_ports(txn: Txn, port_ids) -> None:
    ids = sorted(set(port_ids or ()))
    if ids:
        txn.session.execute(sa.update(models.Port)
                            .where(models.Port.id.in_(ids), models.Port.status == 'DOWN',
                                   models.Port.admin_state_up.is_(True))
                            .values(status='ACTIVE'))
