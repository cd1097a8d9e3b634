"""Which OVS ports are ours, and which of their fields we may change (pure).

With ``[ovs] local_vlan_tagging = False`` an L2 agent (Neutron's Open vSwitch
agent) binds the ports on the integration bridge: their ``tag``, the
``other_config`` keys it writes (:data:`L2_AGENT_OTHER_CONFIG`) and
``vlan_mode``/``trunks`` are its own.  We plug a NEW port on the dead VLAN 4095,
as Neutron's interface driver does, and never change those fields of an existing
port (:func:`manages_l2_fields`).  With local VLAN tagging on (standalone, our
controller) the tags are ours and are kept right.

Our ports are recognised by their Interface's ``external_ids``, never by tag
(the L2 agent rewrites tags; Nova's VM taps are named ``tap<port id>`` just like
DHCP taps):

* every port an agent plugs carries :data:`OWNER_KEY` =
  ``<kind>:<host>:<network or router id>`` (:class:`Owner`), so a sweep knows the
  port, its agent and its resource without asking anyone;
* a port plugged without that mark (by an older netnode or by Neutron's own
  agents) is ours only when its ``iface-id`` is a port of ours in the server's
  data (a DHCP port with our ``device_id`` of a network this agent serves, a
  router port of a router it serves): the caller passes those ids.

Anything else is foreign and is never removed.
"""

from __future__ import annotations

import dataclasses

from agent.common import names
from agent.drivers.state import ATTACHED_MAC, IFACE_ID, OWNER, OvsPort

OWNER_KEY = OWNER
DHCP = 'dhcp'
L3 = 'l3'
KINDS = (DHCP, L3)

# What Neutron's OVS agent writes to a port it binds (besides the tag itself).
L2_AGENT_OTHER_CONFIG = ('net_uuid', 'network_type', 'physical_network',
                         'segmentation_id', 'tag')
L2_AGENT_PORT_COLUMNS = ('tag', 'vlan_mode', 'trunks', 'other_config')


@dataclasses.dataclass(frozen=True, slots=True)
class Owner:
    """Who plugged a port: an agent ``kind`` on ``host``, for a network or router."""
    kind: str
    host: str
    resource_id: str

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f'port owner: unknown agent kind {self.kind!r}')
        if not self.host:
            raise ValueError('port owner: empty host')
        names.validate_uuid(self.resource_id, f'{self.kind} port owner id')

    def mark(self) -> str:
        return f'{self.kind}:{self.host}:{self.resource_id}'

    @classmethod
    def parse(cls, value: str | None) -> Owner | None:
        """The owner a mark names, or None if ``value`` is not a well-formed mark."""
        if not value:
            return None
        kind, _, rest = value.partition(':')        # a host may hold ':' itself
        host, _, resource_id = rest.rpartition(':')
        try:
            return cls(kind, host, resource_id)
        except ValueError:
            return None


def owner_of(port: OvsPort) -> Owner | None:
    return Owner.parse(port.external_ids.get(OWNER_KEY))


def manages_l2_fields(local_vlan_tagging: bool) -> bool:
    """Whether an agent may change the tag, vlan_mode, trunks and other_config of a
    port that exists: only when it does the local VLAN tagging itself."""
    return local_vlan_tagging


def has_agent_ids(port: OvsPort) -> bool:
    """The external_ids every interface-driver port carries (iface-id, attached-mac)."""
    ids = port.external_ids
    return bool(ids.get(IFACE_ID)) and bool(ids.get(ATTACHED_MAC))


def resource_of(port: OvsPort, kind: str, host: str,
                known_ports: dict[str, str]) -> str | None:
    """The network (DHCP) or router (L3) id ``port`` serves for agent ``kind`` on
    ``host``, or None when the port is not positively that agent's.

    ``known_ports`` maps the ids of our ports in the server's data (DHCP ports
    with our device_id, router ports) to their network or router: it recognises
    ports plugged without our mark.  A port marked by another agent or host is
    never ours, whatever its iface-id.
    """
    owner = owner_of(port)
    if owner is not None:
        return owner.resource_id if (owner.kind, owner.host) == (kind, host) else None
    if OWNER_KEY in port.external_ids or not has_agent_ids(port):
        return None           # a malformed mark, or not an interface-driver port
    return known_ports.get(port.iface_id)
