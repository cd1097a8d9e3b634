"""Option definitions.  Names follow Neutron's wherever Neutron has the option."""

import socket

from oslo_config import cfg
from oslo_config import types

# netnode-server's state_path unless configured (agent.cmd.server).
SERVER_STATE_PATH = '/var/lib/netnode-server'

common_opts = [
    cfg.StrOpt('host', default=socket.gethostname(), sample_default='example.domain',
               help='Name of this node. It is the RPC server name of the agents and the '
                    'key of their row in the agents table, so it must be stable.'),
    cfg.StrOpt('state_path', default='/var/lib/netnode',
               help='Where the services keep their state (dnsmasq files, pid files, '
                    'sockets; the server\'s SQLite database). The agents default to '
                    f'/var/lib/netnode, netnode-server to {SERVER_STATE_PATH} '
                    '(its own systemd StateDirectory: on a node running both, the '
                    'server, which runs as the netnode user, does not own the root '
                    'agents\' files).'),
]

server_opts = [
    cfg.HostAddressOpt('bind_host', default='0.0.0.0',
                       help='Address the REST API listens on.'),
    cfg.PortOpt('bind_port', default=9696, help='Port the REST API listens on.'),
    cfg.BoolOpt('enable_rpc', default=True,
                help='Serve and notify the agents over the message bus '
                     '(transport_url). False runs the REST API alone, for '
                     'development and benchmarks: agents are neither served nor '
                     'notified.'),
    cfg.IntOpt('api_workers', default=1, min=1,
               help='Number of REST API worker processes.'),
    cfg.IntOpt('rpc_workers', default=1, min=0,
               help='Number of RPC worker threads pools serving the agents.'),
    cfg.IntOpt('agent_down_time', default=75, min=1,
               help='Seconds without a heartbeat after which an agent is down. '
                    'Should be at least twice [AGENT] report_interval.'),
    cfg.IntOpt('dhcp_agents_per_network', default=1, min=1,
               help='Number of DHCP agents scheduled to host a network.'),
    cfg.BoolOpt('allow_automatic_dhcp_failover', default=True,
                help='Move the networks of a DHCP agent that has been dead for longer '
                     'than agent_down_time to live DHCP agents (keeping '
                     'dhcp_agents_per_network). Nothing moves when no live agent can '
                     'take a network, nor while more than half of the agents look dead '
                     'at once (an outage of the bus rather than of the nodes) and for '
                     'twice agent_down_time after it.'),
    cfg.BoolOpt('allow_automatic_l3agent_failover', default=False,
                help='Move the routers of an L3 agent that has been dead for longer '
                     'than agent_down_time to live L3 agents, under the same rules as '
                     'allow_automatic_dhcp_failover. Routers are down while they move.'),
    cfg.FloatOpt('agent_failover_interval', default=0, min=0,
                 help='Seconds between two checks for failed agents (automatic '
                      'failover); 0 means half of agent_down_time, as in Neutron.'),
    cfg.ListOpt('network_vlan_ranges', default=[],
                help='Physical networks that carry VLAN provider and tenant networks, '
                     'as ML2 writes them: <physical_network>[:<vlan_min>:<vlan_max>]. '
                     'A physical network without a range takes provider networks '
                     'only; tenant networks (tenant_network_types = vlan) get the '
                     'lowest free VLAN of the ranges.'),
    cfg.ListOpt('flat_networks', default=['*'],
                help='Physical networks that may carry a flat (untagged) provider '
                     'network; * means any.'),
    cfg.ListOpt('tenant_network_types', default=['local'],
                item_type=cfg.types.String(choices=['local', 'vlan']),
                help='Type of the networks created without provider attributes, in '
                     'order of preference: local (one node only: its ports must all '
                     'be on the node that serves it) or vlan (from '
                     'network_vlan_ranges: the network reaches every node whose '
                     'agents map the physical network).'),
    cfg.BoolOpt('l3_ha', default=False,
                help='Create routers highly available by default (ha = true): each one '
                     'on max_l3_agents_per_router L3 agents at once, keepalived (VRRP) '
                     'choosing the one that forwards. A router\'s own ha attribute '
                     'overrides it (admins only, as in Neutron).'),
    cfg.IntOpt('max_l3_agents_per_router', default=3, min=0,
               help='Number of L3 agents an HA router is scheduled to; fewer when '
                    'fewer are alive (the others are added when they come). 0 means '
                    'every live L3 agent.'),
    cfg.StrOpt('l3_ha_net_cidr', default='169.254.192.0/18',
               help='Subnet of the HA network of each project, over which the L3 '
                    'agents of an HA router exchange VRRP advertisements.'),
    cfg.StrOpt('l3_ha_network_type', default='',
               help='Network type of the HA networks (vlan, flat, local); empty: the '
                    'first of tenant_network_types, as for other tenant networks. On '
                    'several nodes it must reach them all: vlan.'),
    cfg.StrOpt('l3_ha_network_physical_name', default='',
               help='Physical network of the HA networks (of network_vlan_ranges for '
                    'vlan, of flat_networks for flat); empty: any with a free VLAN.'),
    cfg.StrOpt('base_mac', default='fa:16:3e:00:00:00',
               help='Base MAC address; the first three octets are kept and the '
                    'rest are random.'),
    cfg.IntOpt('mac_generation_retries', default=16, min=1,
               help='Attempts at a unique MAC address before giving up.'),
    cfg.IntOpt('global_physnet_mtu', default=1500, min=68,
               help='MTU of the underlying physical network.'),
    cfg.StrOpt('dns_domain', default='openstacklocal',
               help='Domain used for host names of ports.'),
    cfg.StrOpt('auth_strategy', default='noauth', choices=['noauth'],
               help='Only noauth is supported: tokens are ignored and '
                    'X-Project-Id sets the project.'),
]

database_opts = [
    cfg.StrOpt('connection', secret=True,
               help='SQLAlchemy URL of the database. Default: an SQLite file '
                    '$state_path/netnode.sqlite.'),
    cfg.IntOpt('max_retries', default=10, min=0,
               help='Retries of a transaction that lost a race (deadlock, '
                    'serialization failure, duplicate allocation).'),
]

agent_opts = [
    cfg.FloatOpt('report_interval', default=30.0, min=0,
                 help='Seconds between heartbeats (report_state); 0 disables them. '
                      'Should be half of the server\'s agent_down_time or less.'),
    cfg.BoolOpt('log_agent_heartbeats', default=False,
                help='Log every heartbeat.'),
    cfg.StrOpt('availability_zone', default='nova',
               help='Availability zone of this node.'),
    cfg.StrOpt('check_child_processes_action', default='respawn',
               choices=['respawn', 'exit'],
               help='What to do when a child process (dnsmasq, haproxy) dies.'),
    cfg.IntOpt('check_child_processes_interval', default=60, min=0,
               help='Seconds between liveness checks of child processes; 0 disables '
                    'them.'),
    cfg.BoolOpt('comment_iptables_rules', default=True,
                help='Add comments to iptables rules.'),
    cfg.BoolOpt('use_random_fully', default=True,
                help='Use --random-fully on SNAT rules.'),
    cfg.BoolOpt('debug_iptables_rules', default=False,
                help='Apply every iptables change twice and fail if the second '
                     'apply is not a no-op.'),
    # Named after neutron.conf's bind_host/bind_port (Neutron's agents have no
    # metrics endpoint).  Each agent on a host needs a port of its own: set it in
    # the agent's file (dhcp_agent.ini, l3_agent.ini, metadata_agent.ini).
    cfg.PortOpt('metrics_bind_port',
                help='Serve Prometheus metrics (queue depth, reconcile counts and '
                     'durations, children by kind and state, seconds since the last '
                     'full sync, bus state) at http://<metrics_bind_host>:<port>/'
                     'metrics. Unset: no endpoint.'),
    cfg.HostAddressOpt('metrics_bind_host', default='127.0.0.1',
                       help='Address the metrics endpoint binds to (metrics_bind_port).'),
]

# Neutron keeps these in [DEFAULT] (dhcp_agent.ini); netnode read them from [AGENT]
# before, which still works (with a deprecation warning).  The L3 agent reads them too.
sync_opts = [
    cfg.IntOpt('resync_interval', default=60, min=1,
               deprecated_opts=[cfg.DeprecatedOpt('resync_interval', group='AGENT')],
               help='Seconds between safety-net full resyncs.'),
    cfg.FloatOpt('resync_throttle', default=1.0, min=0,
                 deprecated_opts=[cfg.DeprecatedOpt('resync_throttle', group='AGENT')],
                 help='Minimum seconds between two full resyncs.'),
    cfg.IntOpt('num_sync_threads', default=4, min=1,
               deprecated_opts=[cfg.DeprecatedOpt('num_sync_threads', group='AGENT')],
               help='Worker threads reconciling resources in parallel.'),
]

ovs_opts = [
    cfg.StrOpt('integration_bridge', default='br-int',
               help='Bridge the DHCP and router ports are plugged into.'),
    cfg.StrOpt('external_bridge', default='br-ex',
               help='Bridge router gateway (qg-) ports are plugged into.'),
    cfg.StrOpt('datapath_type', default='system', choices=['system', 'netdev'],
               help='OVS datapath of the bridges we create: system (kernel module) '
                    'or netdev (userspace).'),
    cfg.StrOpt('ovsdb_connection', default='unix:/var/run/openvswitch/db.sock',
               help='OVSDB server to manage bridges and ports through: '
                    'unix:PATH or tcp:IP:PORT (ssl: is not supported).'),
    cfg.IntOpt('ovsdb_timeout', default=10, min=1,
               help='Seconds to wait for an OVSDB transaction.'),
    cfg.ListOpt('bridge_mappings', default=[],
                help='<physical_network>:<bridge> of this node (at most one). The '
                     'integration bridge is trunked to that bridge by a patch port pair '
                     'that the agents create if missing; ports of vlan networks are '
                     'tagged with the segmentation id, ports of flat networks with VLAN '
                     '0 (untagged on the physical network), and networks of other types '
                     'are refused on this node (their local VLAN would leak onto the '
                     'physical network). Empty: one node, every network gets a local '
                     'VLAN. Ignored when local_vlan_tagging is False (the L2 agent '
                     'owns the link to the physical networks).'),
    cfg.BoolOpt('local_vlan_tagging', default=True,
                help='Tag every port we plug with a per-network local VLAN, kept in '
                     'OVSDB so all processes on the host agree. Set to False when an '
                     'L2 agent (Neutron\'s Open vSwitch agent) binds the ports: new '
                     'ports then get the dead VLAN 4095, and the tag, vlan_mode, '
                     'trunks and other_config of an existing port are left to it.'),
]

# The DHCP and L3 agents' [DEFAULT] options of the ports they plug (Neutron's name).
interface_opts = [
    cfg.BoolOpt('ovs_use_veth', default=False,
                help='Plug each DHCP and router port as a veth pair instead of an '
                     'OVS internal port: one end is made in the namespace, the other '
                     '(of the same name) in the root namespace, plugged into the '
                     'bridge. An internal port is made in the root namespace and '
                     'moved into its namespace, and the kernel serialises each move '
                     'behind an RCU barrier under its rtnl lock (~20 ms): at a '
                     'thousand routers that is most of a cold start. With false the '
                     'ports look as Neutron\'s agents leave them. Changing it replugs '
                     'every port at the next reconcile.'),
]

# The L3 agent's own [DEFAULT] options (Neutron's l3_agent.ini names and defaults).
l3_agent_opts = [
    cfg.PortOpt('metadata_port', default=9697,
                help='Port the metadata proxy of a router listens on inside its '
                     'namespace; the metadata REDIRECT sends 169.254.169.254:80 '
                     'there.'),
    cfg.BoolOpt('enable_metadata_proxy', default=True,
                help='Run a metadata proxy in every router namespace and redirect '
                     'instance metadata requests to it.'),
    cfg.StrOpt('metadata_access_mark', default='0x1',
               help='iptables mangle mark of valid metadata requests. Only the lower '
                    '16 bits are used (masked with 0xffff).'),
    cfg.StrOpt('external_ingress_mark', default='0x2',
               help='iptables mangle mark of packets entering through the gateway '
                    'port. Only the lower 16 bits are used (masked with 0xffff).'),
    cfg.BoolOpt('handle_internal_only_routers', default=True,
                help='Also host routers without an external gateway. The server '
                     'reads this from the agent\'s report_state configurations.'),
    # IPv6 router advertisements: one radvd per router with RA subnets.
    cfg.StrOpt('ra_confs', default='$state_path/ra',
               help='Directory of the radvd configuration files '
                    '(<ra_confs>/<router id>.radvd.conf).'),
    cfg.IntOpt('min_rtr_adv_interval', default=30, min=3, max=1350,
               help='MinRtrAdvInterval of radvd: fewest seconds between two '
                    'unsolicited router advertisements (at most 0.75 times '
                    'max_rtr_adv_interval).'),
    cfg.IntOpt('max_rtr_adv_interval', default=100, min=4, max=1800,
               help='MaxRtrAdvInterval of radvd: most seconds between two '
                    'unsolicited router advertisements.'),
    cfg.StrOpt('radvd_user', default='',
               help='User radvd drops its privileges to (radvd -u); empty: '
                    'radvd keeps running as the agent\'s user.'),
    # HA routers: one keepalived (VRRP) per HA router (agent.l3.keepalived).
    cfg.StrOpt('ha_confs_path', default='$state_path/ha_confs',
               help='Directory of the HA routers\' keepalived files: '
                    '<ha_confs_path>/<router id>/keepalived.conf and state, '
                    '<ha_confs_path>/<router id>.pid.keepalived.'),
    cfg.StrOpt('ha_vrrp_auth_type', default='PASS', choices=('AH', 'PASS'),
               help='VRRP authentication type of the HA routers (with '
                    'ha_vrrp_auth_password).'),
    cfg.StrOpt('ha_vrrp_auth_password', secret=True,
               help='VRRP authentication password; unset: no authentication. '
                    'keepalived.conf is written with mode 0600.'),
    cfg.IntOpt('ha_vrrp_advert_int', default=2, min=1, max=255,
               help='Seconds between two VRRP advertisements; a backup takes over '
                    'after about three missed ones.'),
    cfg.IntOpt('ha_vrrp_health_check_interval', default=0, min=0,
               help='Seconds between two keepalived health checks of the gateway; '
                    '0 disables them (only 0 is supported: a non-zero value stops '
                    'the agent).'),
    cfg.BoolOpt('ha_conntrackd_enabled', default=False,
                help='Synchronise connection tracking between the nodes of an HA '
                     'router with conntrackd (not supported: true stops the agent).'),
]

# ---------------------------------------------------------------------------
# DHCP agent: dnsmasq options ([DEFAULT], Neutron's dhcp_agent.ini names and
# defaults).  Read through agent.dhcp.settings.DnsmasqSettings.from_conf.
# dns_domain is the server's option object, so both read the same setting.
# ---------------------------------------------------------------------------
dnsmasq_opts = [
    next(o for o in server_opts if o.dest == 'dns_domain'),
    cfg.IntOpt('dhcp_lease_duration', default=86400, min=-1,
               help='DHCP lease duration in seconds; -1 means infinite.'),
    cfg.ListOpt('dnsmasq_dns_servers', default=[],
                help='Upstream DNS servers dnsmasq forwards to (--server).'),
    cfg.BoolOpt('dnsmasq_local_resolv', default=False,
                help='Let dnsmasq use the host\'s resolv.conf when '
                     'dnsmasq_dns_servers is empty.'),
    cfg.IntOpt('dnsmasq_lease_max', default=2 ** 24, min=1,
               help='Upper bound of --dhcp-lease-max (otherwise the sum of the '
                    'subnet sizes).'),
    cfg.StrOpt('dnsmasq_config_file', default='',
               help='Extra dnsmasq configuration file (--conf-file); empty means '
                    '/dev/null.'),
    cfg.StrOpt('dnsmasq_txt_record', default='',
               help='A --txt-record for dnsmasq; empty means none.'),
    cfg.BoolOpt('enable_isolated_metadata', default=False,
                help='Serve metadata from the DHCP namespace on subnets without a '
                     'router, and announce the route to 169.254.169.254 via the '
                     'DHCP port.'),
    cfg.BoolOpt('force_metadata', default=False,
                help='Always serve metadata from the DHCP namespace and route '
                     '169.254.169.254 via the DHCP port.'),
    cfg.BoolOpt('dhcp_broadcast_reply', default=False,
                help='Broadcast DHCP replies (--dhcp-broadcast).'),
    cfg.IntOpt('dhcp_renewal_time', default=0, min=0,
               help='DHCP T1 in seconds (option 58); 0 leaves it to dnsmasq.'),
    cfg.IntOpt('dhcp_rebinding_time', default=0, min=0,
               help='DHCP T2 in seconds (option 59); 0 leaves it to dnsmasq.'),
]

# ---------------------------------------------------------------------------
# Metadata.  metadata_proxy_opts are read by every agent that runs proxies (DHCP,
# L3: the socket the haproxies forward to and the user they run as) and by the
# metadata agent (the socket it serves); Neutron's names and defaults.
# ---------------------------------------------------------------------------
metadata_proxy_opts = [
    cfg.StrOpt('metadata_proxy_socket', default='$state_path/metadata_proxy',
               help='Unix socket the metadata proxies forward to and the metadata '
                    'agent serves.'),
    cfg.StrOpt('metadata_proxy_user', default='netnode-haproxy',
               help='User (uid or name) the metadata proxies run as once they bound '
                    'their port: an unprivileged user of their own by default '
                    '(etc/sysusers.d/netnode.conf, tools/setup-host.sh and the '
                    'devstack plugin create it); empty means the effective user of '
                    'the agent (Neutron\'s default, root).'),
    cfg.StrOpt('metadata_proxy_group', default='netnode-haproxy',
               help='Group (gid or name) the metadata proxies run as; the metadata '
                    'socket is reachable by this group only. Empty means the '
                    'effective group of the agent.'),
    cfg.StrOpt('metadata_proxy_mode', default='haproxy', choices=['haproxy', 'shared'],
               help='haproxy: one haproxy per router and isolated network, in its '
                    'namespace, with Neutron\'s files (ns-metadata-proxy/<id>.conf, '
                    'external/pids/<id>.pid.haproxy): what Neutron\'s agents leave, '
                    'so an operator can switch back and forth. shared: one proxy '
                    'process per agent holding a listening socket in each namespace '
                    '(made by the agent there and handed over); a router or network '
                    'costs a message instead of a process start (~60 ms of CPU and '
                    '~6.5 MiB each).'),
]

# [metadata_rate_limiting]: read by the agents that run metadata proxies; Neutron's
# names and defaults.  haproxy counts requests per source address in two windows
# and answers 429 past either limit.
METADATA_RATE_LIMITING = 'metadata_rate_limiting'
metadata_rate_limiting_opts = [
    cfg.BoolOpt('rate_limit_enabled', default=False,
                help='Limit the rate of metadata requests per source address.'),
    cfg.ListOpt('ip_versions', item_type=types.Integer(choices=[4, 6]), default=[4],
                help='The metadata address family to rate limit: 4 or 6 (haproxy '
                     'keys one stick table by one family, so not both).'),
    cfg.IntOpt('base_window_duration', default=10, min=1,
               help='Seconds of the base window.'),
    cfg.IntOpt('base_query_rate_limit', default=10, min=1,
               help='Requests a source may make in the base window.'),
    cfg.IntOpt('burst_window_duration', default=10, min=1,
               help='Seconds of the burst window.'),
    cfg.IntOpt('burst_query_rate_limit', default=10, min=1,
               help='Requests a source may make in the burst window.'),
]

# The metadata agent's own options.
metadata_agent_opts = [
    cfg.StrOpt('metadata_proxy_socket_mode', default='deduce',
               choices=['deduce', 'user', 'group', 'all'],
               help='Who may connect to the metadata socket: user (0600: the '
                    'agent\'s user; root always can), group (0660, group '
                    'metadata_proxy_group), all (0666: any local user, which lets any '
                    'process forge metadata requests), or deduce: user when the '
                    'proxies run as root or the agent\'s user, group otherwise (never '
                    'all).'),
    cfg.IntOpt('metadata_backlog', default=4096, min=1,
               help='Listen backlog of the metadata socket.'),
    cfg.StrOpt('metadata_backend', choices=['netnode', 'nova'],
               sample_default='<nova when Nova is configured, otherwise netnode>',
               help='Where instance documents come from: netnode (the controller '
                    'stores them; the agent renders the OpenStack and EC2 formats) '
                    'or nova (forward to nova_metadata_host with Neutron\'s '
                    'X-Instance-ID, X-Tenant-ID and X-Instance-ID-Signature). '
                    'Unset: nova when nova_metadata_host or '
                    'metadata_proxy_shared_secret is set, as in a Neutron '
                    'metadata_agent.ini, otherwise netnode.'),
    cfg.FloatOpt('metadata_rpc_timeout', default=5.0, min=0.1,
                 help='Seconds to wait for the controller on each lookup; past it the '
                      'instance gets 503 (and retries), not a hung request. Requests '
                      'forwarded to Nova wait this long too, at least 5 s.'),
    cfg.FloatOpt('metadata_cache_ttl', default=5.0, min=0,
                 help='Seconds a port lookup and an instance\'s data are cached; 0 '
                      'disables the cache.'),
    cfg.HostAddressOpt('nova_metadata_host', default='127.0.0.1',
                       help='Nova metadata API host (metadata_backend = nova).'),
    cfg.PortOpt('nova_metadata_port', default=8775,
                help='Nova metadata API port (metadata_backend = nova).'),
    cfg.StrOpt('nova_metadata_protocol', default='http', choices=['http', 'https'],
               help='Protocol of the Nova metadata API.'),
    cfg.BoolOpt('nova_metadata_insecure', default=False,
                help='Do not verify the certificate of an https Nova metadata API.'),
    cfg.StrOpt('metadata_proxy_shared_secret', default='', secret=True,
               help='Secret shared with Nova to sign X-Instance-ID '
                    '(X-Instance-ID-Signature, HMAC-SHA256).'),
]
