"""The configuration files of one run: Neutron's (server, ML2, Open vSwitch agent,
and its own DHCP/L3/metadata agents for ``--compare``) and netnode's agents'.

Only what this machine needs (see ../shared/reference/neutron-on-one-machine.md):
noauth, MariaDB on a private socket, a vhost of the run's own, unique bridges,
OpenFlow and OVSDB ports, and a short ``resync_interval`` so the job sees
periodic resyncs.
"""

from __future__ import annotations

import os

from agent.tools.interop.settings import RESYNC_INTERVAL, SHARED_SECRET, Settings

NEUTRON_FILES = ('neutron.conf', 'ml2_conf.ini')
AGENTS = tuple(f'{who}-{kind}-agent' for who in ('netnode', 'neutron')
               for kind in ('dhcp', 'l3', 'metadata'))


def root_helper(s: Settings) -> str:
    # The job runs as root: no sudo, only the PATH privsep-helper is found on.
    return f'env PATH={s.venv}/bin:/usr/sbin:/usr/bin:/sbin:/bin'


def neutron_conf(s: Settings) -> str:
    return f"""\
[DEFAULT]
host = {s.host}
debug = true
core_plugin = ml2
service_plugins = router
auth_strategy = noauth
allow_overlapping_ips = true
transport_url = {s.transport_url}
control_exchange = neutron
rpc_workers = 1
rpc_state_report_workers = 1
api_workers = 1
api_paste_config = {s.venv}/etc/neutron/api-paste.ini
state_path = {s.state_path('neutron')}
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
dhcp_agents_per_network = 1
agent_down_time = 30
interface_driver = openvswitch
rpc_response_timeout = 30

[database]
connection = {s.database_url}

[oslo_concurrency]
lock_path = {s.path('lock')}

[agent]
root_helper = {root_helper(s)}
report_interval = 5

[quotas]
quota_network = -1
quota_subnet = -1
quota_port = -1
quota_router = -1
quota_floatingip = -1
quota_security_group = -1
quota_security_group_rule = -1
"""


def ml2_conf(s: Settings) -> str:
    return """\
[ml2]
type_drivers = flat,vxlan
tenant_network_types = vxlan
mechanism_drivers = openvswitch

[ml2_type_flat]
flat_networks = physnet1

[ml2_type_vxlan]
vni_ranges = 1:1000
"""


def ovs_agent_ini(s: Settings, of_port: int) -> str:
    return f"""\
[ovs]
datapath_type = netdev
integration_bridge = {s.int_bridge}
tunnel_bridge = {s.tun_bridge}
int_peer_patch_port = pi{s.run_id}i
tun_peer_patch_port = pi{s.run_id}t
bridge_mappings = physnet1:{s.ex_bridge}
local_ip = 127.0.0.1
of_listen_address = 127.0.0.1
of_listen_port = {of_port}
ovsdb_connection = tcp:127.0.0.1:{s.ovsdb_port}
# Neutron's 10 s timed out adding a bridge on a shared machine at a load of 19
ovsdb_timeout = 30

[agent]
tunnel_types = vxlan
root_helper = {root_helper(s)}

[securitygroup]
firewall_driver = noop
"""


def neutron_agents_ini(s: Settings) -> str:
    """Neutron's own DHCP, L3 and metadata agents (``--compare``), one file."""
    return f"""\
[DEFAULT]
interface_driver = openvswitch
enable_isolated_metadata = true
resync_interval = {RESYNC_INTERVAL}
nova_metadata_host = 127.0.0.1
nova_metadata_port = {s.nova_port}
metadata_proxy_shared_secret = {SHARED_SECRET}
metadata_workers = 1

[ovs]
integration_bridge = {s.int_bridge}
ovsdb_connection = tcp:127.0.0.1:{s.ovsdb_port}
"""


def netnode_conf(s: Settings) -> str:
    """netnode's DHCP, L3 and metadata agents: drop-ins under this neutron-server."""
    return f"""\
[DEFAULT]
host = {s.host}
debug = true
state_path = {s.state_path('netnode')}
transport_url = {s.transport_url}
control_exchange = neutron
rpc_response_timeout = 30
enable_isolated_metadata = true
metadata_backend = nova
nova_metadata_host = 127.0.0.1
nova_metadata_port = {s.nova_port}
metadata_proxy_shared_secret = {SHARED_SECRET}

[AGENT]
report_interval = 5
resync_interval = {RESYNC_INTERVAL}

[ovs]
integration_bridge = {s.int_bridge}
external_bridge = {s.ex_bridge}
datapath_type = netdev
local_vlan_tagging = false
"""


def files(s: Settings, of_port: int) -> dict[str, str]:
    """{path: content} of every file the run writes under its etc directory."""
    return {
        os.path.join(s.etc, 'neutron.conf'): neutron_conf(s),
        os.path.join(s.etc, 'ml2_conf.ini'): ml2_conf(s),
        os.path.join(s.etc, 'openvswitch_agent.ini'): ovs_agent_ini(s, of_port),
        os.path.join(s.etc, 'neutron_agents.ini'): neutron_agents_ini(s),
        os.path.join(s.etc, 'netnode.conf'): netnode_conf(s),
        **{os.path.join(s.etc, f'{agent}.ini'): f'# {agent} of this run (its own file: its '
           'privsep helpers carry its name)\n' for agent in AGENTS},
    }
