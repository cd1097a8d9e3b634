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

Importing oslo.messaging imports oslo.service, which picks its *eventlet* backend
unless told otherwise, and eventlet prints a deprecation warning.  Nothing here
uses eventlet (the threading executor only): select oslo.service's threading
backend by default and silence the warning, before anything imports
oslo.messaging through this package.  (Importing ``agent.rpc`` before any other
oslo import, or doing the same in ``agent/__init__.py``, makes it process-wide.)
"""

import warnings

warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
warnings.filterwarnings('ignore', module='oslo_service.backend._eventlet')
warnings.filterwarnings('ignore', module='oslo_utils.eventletutils')
warnings.filterwarnings('ignore', message='.*eventlet_backdoor')

from oslo_service import backend as _service_backend  # noqa: E402

_service_backend.register_backend_default_hook(
    lambda: _service_backend.BackendType.THREADING)
