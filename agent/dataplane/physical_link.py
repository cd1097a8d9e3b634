"""The link from the integration bridge to the physical network of a node
(``[ovs] bridge_mappings``): a patch port pair ``int-<bridge>``/``phy-<bridge>``,
untagged on both sides (trunks of every VLAN), see :mod:`.provider_vlan`.

Who owns it: the node's configuration.  Each agent (DHCP and L3) that tags its own
ports ensures the pair at start, identically and idempotently, so either agent
alone is enough; neither ever deletes it (``ovs-vsctl del-port``, as for the
physical bridge and its NIC, which the operator creates).  In drop-in mode
(``local_vlan_tagging = False``) the L2 agent owns the link and nothing here runs.
"""

from __future__ import annotations

import logging

from agent.dataplane.provider_vlan import parse_bridge_mappings, patch_names

LOG = logging.getLogger(__name__)


def bridge_mappings(conf) -> dict[str, str]:
    """The node's parsed bridge mappings ({} in drop-in mode); ProviderNetworkError
    on a bad entry (the agent refuses to start)."""
    if not getattr(conf.ovs, 'local_vlan_tagging', True):
        return {}
    return parse_bridge_mappings(getattr(conf.ovs, 'bridge_mappings', None) or [])


def ensure_physical_links(ovs, integration_bridge: str, mappings: dict[str, str]) -> None:
    """The patch pair to each mapped bridge (which must exist: the operator's)."""
    for physnet, bridge in mappings.items():
        int_port, phys_port = patch_names(bridge)
        try:
            if not ovs.bridge_exists(bridge):
                LOG.error('physical network %s: bridge %s does not exist: networks on it '
                          'reach no other node until it is created', physnet, bridge)
                continue
            if ovs.ensure_patch_pair(integration_bridge, int_port, bridge, phys_port):
                LOG.info('physical network %s: linked %s to %s (patch ports %s/%s)',
                         physnet, integration_bridge, bridge, int_port, phys_port)
        except Exception as exc:  # noqa: BLE001 - the agent keeps serving
            LOG.error('physical network %s: linking %s to %s failed: %s', physnet,
                      integration_bridge, bridge, exc)
