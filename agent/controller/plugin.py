"""The Plugin: the one facade over the database that REST and RPC both call.

REST-facing methods take and return Neutron v2.0 wire dicts (the inner resource
dict of a request body, e.g. the value of ``"network"``); RPC-facing methods take
the keyword arguments of Neutron's agent RPC and return its wire dicts.  Errors
are :mod:`agent.controller.exceptions`.  Agents are told about changes through
``notifier`` (a :class:`agent.controller.notify.Notifier`), after the commit.
"""

from __future__ import annotations

import logging
from typing import Callable, TypeVar

from agent.controller import (agents, dhcp_queries, floatingips, instances, l3_ha,
                              l3_queries, migrations, networks, ports, queries, routers,
                              scheduler, segments, wire)
from agent.controller.context import Context
from agent.controller.db import engine, models
from agent.controller.db.models import utcnow
from agent.controller.notify import Notifier, Outbox, RecordingNotifier
from agent.controller.txn import Txn

LOG = logging.getLogger(__name__)
T = TypeVar('T')
ADMIN = Context.admin()


class Plugin:
    def __init__(self, conf, notifier: Notifier | None = None):
        self.conf = conf
        segments.parse_vlan_ranges(conf.network_vlan_ranges)   # a bad one stops the start
        l3_ha.check_net_cidr(conf.l3_ha_net_cidr)                # so does a bad HA CIDR
        # Without a bus, remember the last notifications (for tests and debugging).
        self.notifier = notifier if notifier is not None else RecordingNotifier(keep=1000)
        self.db = engine.Database(engine.database_url(conf), conf.database.max_retries)
        self.started_at = utcnow()

    def migrate(self) -> None:
        """Bring the database schema to the latest alembic revision."""
        migrations.upgrade(self.db.engine)

    def close(self) -> None:
        self.db.dispose()
        close = getattr(self.notifier, 'close', None)   # a delivery queue's worker
        if close is not None:
            close()

    # transactions -----------------------------------------------------------------
    def _write(self, ctx: Context, fn: Callable[[Txn], T]) -> T:
        """Run ``fn`` in a retried write transaction; deliver its outbox after commit."""
        last: list[Outbox] = []

        def attempt(session):
            txn = Txn(session, Outbox(), self.conf, ctx)
            last[:] = [txn.outbox]
            return fn(txn)
        result = self.db.write(attempt)
        last[0].deliver(self.notifier)
        return result

    def _read(self, ctx: Context, fn: Callable[[Txn], T]) -> T:
        return self.db.read(lambda session: fn(Txn(session, Outbox(), self.conf, ctx)))

    def _show(self, ctx, model, id, to_dict, fields):
        return self._read(ctx, lambda t: wire.select_fields(to_dict(t, t.load(model, id)),
                                                            fields))

    def _list(self, ctx, model, to_dict, filters, fields):
        return self._read(ctx, lambda t: queries.listing(
            [to_dict(t, row) for row in queries.rows(t, model, filters)], filters, fields))

    # networks -----------------------------------------------------------------------
    def create_network(self, ctx: Context, body: dict) -> dict:
        return self._write(ctx, lambda t: networks.create_network(t, body))

    def get_network(self, ctx: Context, id: str, fields=None) -> dict:
        return self._show(ctx, models.Network, id, _network, fields)

    def get_networks(self, ctx: Context, filters=None, fields=None) -> list[dict]:
        return self._list(ctx, models.Network, _network, filters, fields)

    def update_network(self, ctx: Context, id: str, body: dict) -> dict:
        return self._write(ctx, lambda t: networks.update_network(t, id, body))

    def delete_network(self, ctx: Context, id: str) -> None:
        self._write(ctx, lambda t: networks.delete_network(t, id))

    # subnets --------------------------------------------------------------------------
    def create_subnet(self, ctx: Context, body: dict) -> dict:
        return self._write(ctx, lambda t: networks.create_subnet(t, body))

    def get_subnet(self, ctx: Context, id: str, fields=None) -> dict:
        return self._show(ctx, models.Subnet, id, _subnet, fields)

    def get_subnets(self, ctx: Context, filters=None, fields=None) -> list[dict]:
        return self._list(ctx, models.Subnet, _subnet, filters, fields)

    def update_subnet(self, ctx: Context, id: str, body: dict) -> dict:
        return self._write(ctx, lambda t: networks.update_subnet(t, id, body))

    def delete_subnet(self, ctx: Context, id: str) -> None:
        self._write(ctx, lambda t: networks.delete_subnet(t, id))

    # ports ------------------------------------------------------------------------------
    def create_port(self, ctx: Context, body: dict) -> dict:
        return self._write(ctx, lambda t: ports.create_port(t, body))

    def get_port(self, ctx: Context, id: str, fields=None) -> dict:
        return self._show(ctx, models.Port, id, _port, fields)

    def get_ports(self, ctx: Context, filters=None, fields=None) -> list[dict]:
        return self._list(ctx, models.Port, _port, filters, fields)

    def update_port(self, ctx: Context, id: str, body: dict) -> dict:
        return self._write(ctx, lambda t: ports.update_port(t, id, body))

    def delete_port(self, ctx: Context, id: str) -> None:
        self._write(ctx, lambda t: ports.delete_port(t, id))

    # routers ------------------------------------------------------------------------------
    def create_router(self, ctx: Context, body: dict) -> dict:
        return self._write(ctx, lambda t: routers.create_router(t, body))

    def get_router(self, ctx: Context, id: str, fields=None) -> dict:
        return self._show(ctx, models.Router, id, routers.router_dict, fields)

    def get_routers(self, ctx: Context, filters=None, fields=None) -> list[dict]:
        return self._read(ctx, lambda t: queries.listing(
            routers.router_dicts(t, queries.rows(t, models.Router, filters)), filters, fields))

    def update_router(self, ctx: Context, id: str, body: dict) -> dict:
        return self._write(ctx, lambda t: routers.update_router(t, id, body))

    def delete_router(self, ctx: Context, id: str) -> None:
        self._write(ctx, lambda t: routers.delete_router(t, id))

    def add_router_interface(self, ctx: Context, router_id: str, body: dict) -> dict:
        return self._write(ctx, lambda t: routers.add_router_interface(t, router_id, body))

    def remove_router_interface(self, ctx: Context, router_id: str, body: dict) -> dict:
        return self._write(ctx, lambda t: routers.remove_router_interface(t, router_id, body))

    # floating IPs ---------------------------------------------------------------------------
    def create_floatingip(self, ctx: Context, body: dict) -> dict:
        return self._write(ctx, lambda t: floatingips.create_floatingip(t, body))

    def get_floatingip(self, ctx: Context, id: str, fields=None) -> dict:
        return self._show(ctx, models.FloatingIP, id, _floatingip, fields)

    def get_floatingips(self, ctx: Context, filters=None, fields=None) -> list[dict]:
        return self._list(ctx, models.FloatingIP, _floatingip, filters, fields)

    def update_floatingip(self, ctx: Context, id: str, body: dict) -> dict:
        return self._write(ctx, lambda t: floatingips.update_floatingip(t, id, body))

    def delete_floatingip(self, ctx: Context, id: str) -> None:
        self._write(ctx, lambda t: floatingips.delete_floatingip(t, id))

    # agents and scheduling ---------------------------------------------------------------------
    def get_agents(self, ctx: Context, filters=None, fields=None) -> list[dict]:
        return self._list(ctx, models.Agent, self._agent, filters, fields)

    def get_agent(self, ctx: Context, id: str, fields=None) -> dict:
        return self._show(ctx, models.Agent, id, self._agent, fields)

    def update_agent(self, ctx: Context, id: str, body: dict) -> dict:
        return self._write(ctx, lambda t: agents.update_agent(t, id, body))

    def delete_agent(self, ctx: Context, id: str) -> None:
        self._write(ctx, lambda t: agents.delete_agent(t, id))

    def list_networks_on_dhcp_agent(self, ctx: Context, agent_id: str) -> list[dict]:
        return self._read(ctx, lambda t: [_network(t, t.load(models.Network, i))
                                          for i in agents.networks_of_agent(t, agent_id)])

    def list_routers_on_l3_agent(self, ctx: Context, agent_id: str) -> list[dict]:
        return self._read(ctx, lambda t: [routers.router_dict(t, t.load(models.Router, i))
                                          for i in agents.routers_of_agent(t, agent_id)])

    def list_dhcp_agents_hosting_network(self, ctx: Context, network_id: str) -> list[dict]:
        def fn(t):
            t.load(models.Network, network_id)
            return [self._agent(t, a) for a in scheduler.dhcp_agents_of_network(
                t.session, network_id, admin_up_only=False)]
        return self._read(ctx, fn)

    def list_l3_agents_hosting_router(self, ctx: Context, router_id: str) -> list[dict]:
        """Its agents; an HA router's with ``ha_state`` each (Neutron's view of dead
        agents' states is recorded, hence a write when the router is HA)."""
        def fn(t):
            router = t.load(models.Router, router_id)
            hosting = scheduler.l3_agents_of_router(t.session, router_id)
            if not router.ha:
                return [self._agent(t, a) for a in hosting]
            states = l3_ha.states_with_dead_agents(t, router_id)
            return [dict(self._agent(t, a), ha_state=states.get(a.id)) for a in hosting]
        return self._write(ctx, fn)

    def add_network_to_dhcp_agent(self, ctx: Context, agent_id: str, network_id: str) -> None:
        self._write(ctx, lambda t: agents.add_network(t, agent_id, network_id))

    def remove_network_from_dhcp_agent(self, ctx: Context, agent_id: str,
                                       network_id: str) -> None:
        self._write(ctx, lambda t: agents.remove_network(t, agent_id, network_id))

    def add_router_to_l3_agent(self, ctx: Context, agent_id: str, router_id: str) -> None:
        self._write(ctx, lambda t: agents.add_router(t, agent_id, router_id))

    def remove_router_from_l3_agent(self, ctx: Context, agent_id: str, router_id: str) -> None:
        self._write(ctx, lambda t: agents.remove_router(t, agent_id, router_id))

    def fail_over_dead_agents(self, agent_type: str):
        """Move what failed agents of ``agent_type`` host to live ones (the periodic
        check of agent/controller/failover_loop.py); a write only when something moves."""
        decision = self._read(ADMIN, lambda t: agents.failover_decision(t, agent_type))
        if not decision.moves:
            return decision
        return self._write(ADMIN, lambda t: agents.fail_over(t, agent_type))

    def _agent(self, txn: Txn, agent: models.Agent) -> dict:
        return agents.agent_dict(agent, self.conf)

    # RPC: DHCP agent --------------------------------------------------------------------------
    def get_active_networks_info(self, host: str, enable_dhcp_filter: bool = True) -> list[dict]:
        # Write only when there is something to schedule; answer from a read.
        if self._read(ADMIN, dhcp_queries.has_unhosted_networks):
            self._write(ADMIN, lambda t: dhcp_queries.schedule_unhosted_networks(t, host))
        return self._read(ADMIN, lambda t: dhcp_queries.active_networks_info(
            t, host, enable_dhcp_filter))

    def get_network_info(self, network_id: str, host: str) -> dict | None:
        return self._read(ADMIN, lambda t: dhcp_queries.one_network_info(t, network_id or ''))

    def create_dhcp_port(self, port: dict, host: str) -> dict | None:
        return self._write(ADMIN, lambda t: dhcp_queries.create_dhcp_port(t, port, host))

    def update_dhcp_port(self, port_id: str, port: dict, host: str) -> dict | None:
        return self._write(ADMIN, lambda t: dhcp_queries.update_dhcp_port(t, port_id, port, host))

    def release_dhcp_port(self, network_id: str, device_id: str, host: str) -> None:
        self._write(ADMIN, lambda t: dhcp_queries.release_dhcp_port(t, network_id, device_id))

    def get_dhcp_port(self, port_id: str) -> dict:
        return self.get_port(ADMIN, port_id)

    def dhcp_ready_on_ports(self, port_ids) -> None:
        self._write(ADMIN, lambda t: dhcp_queries.dhcp_ready_on_ports(t, port_ids))

    # RPC: L3 agent -----------------------------------------------------------------------------
    def get_router_ids(self, host: str) -> list[str]:
        return self._write(ADMIN, lambda t: l3_queries.router_ids(t, host))

    def sync_routers(self, host: str, router_ids=None) -> list[dict]:
        # Neutron binds the routers' ports to the asking host first (a write, only
        # when needed), then answers (a read).
        if self._read(ADMIN, lambda t: l3_queries.ports_need_binding(t, host, router_ids)):
            self._write(ADMIN, lambda t: l3_queries.bind_router_ports(t, host, router_ids))
        return self._read(ADMIN, lambda t: l3_queries.sync_routers(t, host, router_ids))

    def update_floatingip_statuses(self, router_id: str, fip_statuses: dict) -> None:
        self._write(ADMIN, lambda t: l3_queries.update_floatingip_statuses(
            t, router_id, fip_statuses))

    def update_ha_routers_states(self, host: str, states: dict) -> None:
        """Record the HA states an L3 agent reports; routers it does not host as HA
        routers (deleted meanwhile, or never its) are logged and skipped."""
        result = self._write(ADMIN, lambda t: l3_ha.update_states(t, host, states))
        if result.unknown:
            LOG.warning('update_ha_routers_states from %s: no HA router %s on its L3 '
                        'agent; ignored', host, ', '.join(result.unknown))
        if result.recorded:
            LOG.info('HA states from %s: %s', host, ', '.join(
                f'{r} {states[r]}' for r in result.recorded))
        for router_id, others in result.contested:
            LOG.warning('HA router %s is active on %s and on %s at once: their VRRP '
                        'advertisements do not reach each other (check the HA network '
                        'between the nodes)', router_id, host, ', '.join(others))

    def get_host_ha_router_count(self, host: str) -> int:
        return self._read(ADMIN, lambda t: l3_ha.host_ha_router_count(t, host))

    def update_all_ha_network_port_statuses(self, host: str) -> None:
        self._write(ADMIN, lambda t: l3_ha.set_host_ha_ports_down(t, host))

    # instance metadata (agent/controller/instances.py) ---------------------------------------
    def set_instance(self, ctx: Context, device_id: str, body: dict) -> tuple[dict, bool]:
        return self._write(ctx, lambda t: instances.set_instance(t, device_id, body))

    def get_instance(self, ctx: Context, device_id: str) -> dict:
        return self._read(ctx, lambda t: instances.get_instance(t, device_id))

    def get_instances(self, ctx: Context) -> list[dict]:
        return self._read(ctx, instances.list_instances)

    def delete_instance(self, ctx: Context, device_id: str) -> None:
        self._write(ctx, lambda t: instances.delete_instance(t, device_id))

    def get_instance_metadata(self, device_id: str) -> dict:
        """RPC (netnode extension): see agent.controller.metadata_rpc."""
        return self._read(ADMIN, lambda t: instances.instance_metadata(t, device_id))

    # RPC: heartbeats ------------------------------------------------------------------------------
    def report_state(self, agent_state: dict, time: str) -> str | None:
        return self._write(ADMIN, lambda t: agents.report_state(
            t, agent_state, time, self.started_at))


def _network(txn: Txn, row: models.Network) -> dict:
    return wire.network_dict(row)


def _subnet(txn: Txn, row: models.Subnet) -> dict:
    return wire.subnet_dict(row)


def _port(txn: Txn, row: models.Port) -> dict:
    return wire.port_dict(row)


def _floatingip(txn: Txn, row: models.FloatingIP) -> dict:
    return wire.floatingip_dict(row)
