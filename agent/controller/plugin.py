"""The Plugin: the one facade over the database that REST and RPC both call.

REST-facing methods take and return Neutron v2.0 wire dicts (the inner resource
dict of a request body, e.g. the value of ``"network"``); RPC-facing methods take
the keyword arguments of Neutron's agent RPC and return its wire dicts.  Errors
are :mod:`agent.controller.exceptions`.  Agents are told about changes through
``notifier`` (a :class:`agent.controller.notify.Notifier`) after the commit.
"""

from __future__ import annotations

from agent.controller.context import Context
from agent.controller.notify import Notifier, RecordingNotifier


class Plugin:
    def __init__(self, conf, notifier: Notifier | None = None):
        self.conf = conf
        self.notifier = notifier if notifier is not None else RecordingNotifier()

    def migrate(self) -> None:
        """Bring the database schema to the latest alembic revision."""
        raise NotImplementedError

    # networks -------------------------------------------------------------
    def create_network(self, ctx: Context, body: dict) -> dict: raise NotImplementedError
    def get_network(self, ctx: Context, id: str, fields=None) -> dict: raise NotImplementedError
    def get_networks(self, ctx: Context, filters=None, fields=None) -> list[dict]: raise NotImplementedError
    def update_network(self, ctx: Context, id: str, body: dict) -> dict: raise NotImplementedError
    def delete_network(self, ctx: Context, id: str) -> None: raise NotImplementedError

    # subnets ----------------------------------------------------------------
    def create_subnet(self, ctx: Context, body: dict) -> dict: raise NotImplementedError
    def get_subnet(self, ctx: Context, id: str, fields=None) -> dict: raise NotImplementedError
    def get_subnets(self, ctx: Context, filters=None, fields=None) -> list[dict]: raise NotImplementedError
    def update_subnet(self, ctx: Context, id: str, body: dict) -> dict: raise NotImplementedError
    def delete_subnet(self, ctx: Context, id: str) -> None: raise NotImplementedError

    # ports ------------------------------------------------------------------
    def create_port(self, ctx: Context, body: dict) -> dict: raise NotImplementedError
    def get_port(self, ctx: Context, id: str, fields=None) -> dict: raise NotImplementedError
    def get_ports(self, ctx: Context, filters=None, fields=None) -> list[dict]: raise NotImplementedError
    def update_port(self, ctx: Context, id: str, body: dict) -> dict: raise NotImplementedError
    def delete_port(self, ctx: Context, id: str) -> None: raise NotImplementedError

    # routers ----------------------------------------------------------------
    def create_router(self, ctx: Context, body: dict) -> dict: raise NotImplementedError
    def get_router(self, ctx: Context, id: str, fields=None) -> dict: raise NotImplementedError
    def get_routers(self, ctx: Context, filters=None, fields=None) -> list[dict]: raise NotImplementedError
    def update_router(self, ctx: Context, id: str, body: dict) -> dict: raise NotImplementedError
    def delete_router(self, ctx: Context, id: str) -> None: raise NotImplementedError
    def add_router_interface(self, ctx: Context, router_id: str, body: dict) -> dict: raise NotImplementedError
    def remove_router_interface(self, ctx: Context, router_id: str, body: dict) -> dict: raise NotImplementedError

    # floating IPs -------------------------------------------------------------
    def create_floatingip(self, ctx: Context, body: dict) -> dict: raise NotImplementedError
    def get_floatingip(self, ctx: Context, id: str, fields=None) -> dict: raise NotImplementedError
    def get_floatingips(self, ctx: Context, filters=None, fields=None) -> list[dict]: raise NotImplementedError
    def update_floatingip(self, ctx: Context, id: str, body: dict) -> dict: raise NotImplementedError
    def delete_floatingip(self, ctx: Context, id: str) -> None: raise NotImplementedError

    # agents and scheduling ------------------------------------------------------
    def get_agents(self, ctx: Context, filters=None, fields=None) -> list[dict]: raise NotImplementedError
    def get_agent(self, ctx: Context, id: str, fields=None) -> dict: raise NotImplementedError
    def update_agent(self, ctx: Context, id: str, body: dict) -> dict: raise NotImplementedError
    def delete_agent(self, ctx: Context, id: str) -> None: raise NotImplementedError
    def list_networks_on_dhcp_agent(self, ctx: Context, agent_id: str) -> list[dict]: raise NotImplementedError
    def list_routers_on_l3_agent(self, ctx: Context, agent_id: str) -> list[dict]: raise NotImplementedError
    def list_dhcp_agents_hosting_network(self, ctx: Context, network_id: str) -> list[dict]: raise NotImplementedError
    def list_l3_agents_hosting_router(self, ctx: Context, router_id: str) -> list[dict]: raise NotImplementedError

    # RPC: DHCP agent ------------------------------------------------------------
    def get_active_networks_info(self, host: str, enable_dhcp_filter: bool = True) -> list[dict]: raise NotImplementedError
    def get_network_info(self, network_id: str, host: str) -> dict | None: raise NotImplementedError
    def create_dhcp_port(self, port: dict, host: str) -> dict | None: raise NotImplementedError
    def update_dhcp_port(self, port_id: str, port: dict, host: str) -> dict | None: raise NotImplementedError
    def release_dhcp_port(self, network_id: str, device_id: str, host: str) -> None: raise NotImplementedError
    def get_dhcp_port(self, port_id: str) -> dict: raise NotImplementedError
    def dhcp_ready_on_ports(self, port_ids) -> None: raise NotImplementedError

    # RPC: L3 agent ----------------------------------------------------------------
    def get_router_ids(self, host: str) -> list[str]: raise NotImplementedError
    def sync_routers(self, host: str, router_ids=None) -> list[dict]: raise NotImplementedError
    def update_floatingip_statuses(self, router_id: str, fip_statuses: dict) -> None: raise NotImplementedError

    # RPC: heartbeats ------------------------------------------------------------------
    def report_state(self, agent_state: dict, time: str) -> str | None: raise NotImplementedError
