"""The API extensions we implement, as ``GET /v2.0/extensions`` lists them.

Clients (openstacksdk, the neutron and openstack CLIs) look an alias up before
using the attributes it adds, so only what the controller really serves is here.
Not here, and refused where they would appear: port-security, security-group,
allowed-address-pairs, quotas, subnet_allocation (subnet pools), standard-attr-tag,
dns-integration, qos, l3-flavors, segment, subnet-service-types, dvr
(see :data:`UNIMPLEMENTED` for the collections).
"""

UPDATED = '2026-01-01T00:00:00-00:00'

_EXTENSIONS = (
    ('router', 'Neutron L3 Router',
     'Router abstraction for basic L3 forwarding between L2 Neutron networks and '
     'access to external networks via a NAT gateway.'),
    ('external-net', 'Neutron external network',
     'Adds external network attribute to network resource.'),
    ('provider', 'Provider Network', 'Expose mapping of virtual networks to physical networks'),
    ('extra_dhcp_opt', 'Neutron Extra DHCP options',
     'Extra options configuration for DHCP. For example PXE boot options to DHCP '
     'clients can be specified (e.g. tftp-server, server-ip-address, bootfile-name)'),
    ('binding', 'Port Binding', 'Expose port bindings of a virtual port to external application'),
    ('agent', 'agent', 'The agent management extension.'),
    ('dhcp_agent_scheduler', 'DHCP Agent Scheduler', 'Schedule networks among dhcp agents'),
    ('l3_agent_scheduler', 'L3 Agent Scheduler', 'Schedule routers among l3 agents'),
    ('l3-ha', 'HA Router extension', 'Adds HA capability to routers.'),
    ('extraroute', 'Neutron Extra Route', 'Extra routes configuration for L3 router'),
    ('ext-gw-mode', 'Neutron L3 Configurable external gateway mode',
     'Extension of the router abstraction for specifying whether SNAT should occur '
     'on the external gateway'),
    ('net-mtu', 'Network MTU', 'Provides MTU attribute for a network resource.'),
    ('net-mtu-writable', 'Network MTU (writable)',
     'Provides a writable MTU attribute for a network resource.'),
    ('project-id', 'project_id field enabled',
     'Extension that indicates that project_id field is enabled.'),
    ('standard-attr-description', 'standard-attr-description',
     'Extension to add descriptions to standard attributes'),
    ('filter-validation', 'Filter parameters validation',
     'Provides validation on filter parameters.'),
    ('sorting', 'Sorting support', 'Enables sorting support.'),
    ('pagination', 'Pagination support', 'Enables pagination support.'),
    ('netnode-instance-metadata', 'Instance metadata',
     'Per-instance data (name, hostname, user data, public keys, availability zone) '
     'keyed by device_id, served to instances by the metadata agent.'),
)


def extensions():
    return [{'alias': alias, 'name': name, 'description': description,
             'updated': UPDATED, 'links': []}
            for alias, name, description in _EXTENSIONS]


def extension(alias):
    for ext in extensions():
        if ext['alias'] == alias:
            return ext
    return None


# Collections of Neutron extensions this controller does not implement: asking for
# one gets a 404 (Neutron's answer for a resource whose extension is not loaded)
# whose message names it, rather than the bare "could not be found".
UNIMPLEMENTED = {
    'security-groups': 'security-group', 'security-group-rules': 'security-group',
    'quotas': 'quotas', 'subnetpools': 'subnet_allocation',
    'address-scopes': 'address-scope', 'qos': 'qos', 'trunks': 'trunk',
    'network-segment-ranges': 'network-segment-range', 'segments': 'segment',
    'rbac-policies': 'rbac-policies', 'availability_zones': 'availability_zone',
}
# Sub-resources of the standard-attr-tag extension.
TAGGED = ('networks', 'subnets', 'ports', 'routers', 'floatingips')
