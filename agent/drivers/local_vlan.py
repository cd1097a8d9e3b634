"""Per-network local VLAN tags on the integration bridge, kept in OVSDB.

The map lives in the bridge's ``external_ids`` (``netnode-vlan-<network id>`` =
tag), so every process on the host (DHCP agent, L3 agent, probes) agrees. An
allocation is a compare-and-swap: the transaction ``verify``s the bridge's
external_ids, so if another process changed them in between, OVSDB rejects it
(TRY_AGAIN) and ovsdbapp re-runs the command on fresh data, where the other
process's choice is visible. Tags are the lowest free in 1..4094.

With ``[ovs] local_vlan_tagging = False`` an L2 agent owns the tags: ports get the
dead VLAN 4095 (as Neutron plugs them) and nothing is allocated here.
"""

from __future__ import annotations

import logging
from typing import Any, Dict

from ovsdbapp.backend.ovs_idl import command as ovs_command
from ovsdbapp.backend.ovs_idl import idlutils

from agent.drivers import commands
from agent.drivers.ovs import OvsDriver
from agent.drivers.state import (
    DEAD_VLAN, BridgeNotFound, DriverError, key_for, lowest_free, tags_in)

LOG = logging.getLogger(__name__)
def _bridge(api: Any, name: str) -> Any:
    br = idlutils.row_by_value(api.idl, 'Bridge', 'name', name, None)
    if br is None:
        raise BridgeNotFound(f'bridge {name}: does not exist')
    return br


class _Allocate(ovs_command.BaseCommand):
    """Return the network's tag, allocating the lowest free one (verified CAS)."""

    def __init__(self, api: Any, bridge: str, network_id: str) -> None:
        super().__init__(api)
        self.bridge = bridge
        self.network_id = network_id

    def run_idl(self, txn: Any) -> None:
        br = _bridge(self.api, self.bridge)
        ids = dict(br.external_ids)
        current = tags_in(ids)
        if self.network_id in current:
            self.result = current[self.network_id]
            return
        tag = lowest_free(current.values())
        if tag is None:
            raise DriverError(f'bridge {self.bridge}: no free local VLAN for network '
                              f'{self.network_id}')
        br.verify('external_ids')          # fails the txn if anyone changed them meanwhile
        br.setkey('external_ids', key_for(self.network_id), str(tag))
        LOG.debug('%s', commands.ovs_set_bridge_key(self.bridge, key_for(self.network_id),
                                                    tag))
        self.result = tag


class _Lookup(ovs_command.ReadOnlyCommand):
    def __init__(self, api: Any, bridge: str) -> None:
        super().__init__(api)
        self.bridge = bridge

    def run_idl(self, txn: Any) -> None:
        self.result = tags_in(dict(_bridge(self.api, self.bridge).external_ids))


class LocalVlans:
    """Local VLAN tags of networks on one integration bridge."""

    def __init__(self, ovs: OvsDriver, bridge: str, enabled: bool = True) -> None:
        self.ovs = ovs
        self.bridge = bridge
        self.enabled = enabled

    @classmethod
    def from_conf(cls, conf: Any, ovs: OvsDriver) -> 'LocalVlans':
        return cls(ovs, conf.ovs.integration_bridge, conf.ovs.local_vlan_tagging)

    def allocations(self) -> Dict[str, int]:
        """network id -> tag, as kept in OVSDB (read from the local IDL copy)."""
        try:
            return _Lookup(self.ovs.api, self.bridge).execute(check_error=True,
                                                              log_errors=False)
        except BridgeNotFound:
            raise
        except Exception as exc:
            raise DriverError(f'bridge {self.bridge}: reading local VLANs failed: {exc}'
                              ) from exc

    def tag_for(self, network_id: str) -> int:
        """The network's local VLAN, allocated on first use (1..4094, lowest free)."""
        known = self.allocations().get(network_id)
        if known is not None:
            return known
        try:
            with self.ovs.api.transaction(check_error=True) as txn:
                cmd = txn.add(_Allocate(self.ovs.api, self.bridge, network_id))
        except DriverError:
            raise
        except Exception as exc:
            raise DriverError(f'bridge {self.bridge}: allocating a local VLAN for network '
                              f'{network_id} failed: {exc}') from exc
        return cmd.result

    def port_tag(self, network_id: str) -> int:
        """The tag a new port of the network gets: its local VLAN, or 4095 (dead) if
        local VLAN tagging is off."""
        return self.tag_for(network_id) if self.enabled else DEAD_VLAN

    def release(self, network_id: str) -> None:
        LOG.debug('%s', commands.ovs_remove_bridge_key(self.bridge, key_for(network_id)))
        try:
            self.ovs.api.db_remove('Bridge', self.bridge, 'external_ids',
                                   key_for(network_id), if_exists=True
                                   ).execute(check_error=True, log_errors=False)
        except Exception as exc:
            raise DriverError(f'bridge {self.bridge}: releasing the local VLAN of network '
                              f'{network_id} failed: {exc}') from exc
