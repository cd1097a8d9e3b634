"""Everything about the bus: transport, codec, clients, heartbeat, agent endpoints.

- ``transport``: get_transport(conf), start/stop RPC servers (threading executor,
  declared-methods access policy), RPC clients, admin_context(), BusHealth,
  watch_reconnects(server, callback).
- ``codec``: wire dicts → agent.model (network/subnet/port/router_from_wire),
  WireError(obj, field, problem).
- ``events``: DhcpEvent / L3Event decoded from the server's notifications.
- ``clients``: DhcpPluginApi, L3PluginApi, ReportStateApi (Neutron topics and
  versions, BackingOffClient behaviour).
- ``heartbeat``: the report_state thread.
- ``agent_server``: DhcpAgentEndpoint, L3AgentEndpoint and their servers.
- ``agent_bus``: AgentBus, all of the above for one agent process.

The threading backend of oslo.service is selected in ``agent/__init__.py``.
"""

