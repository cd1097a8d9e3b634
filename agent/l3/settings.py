"""The L3 agent's settings, read once from its ConfigOpts into a frozen value."""

from __future__ import annotations

import dataclasses
import os

from agent.l3.keepalived import HaSettings
from agent.l3.nat import NatSettings
from agent.l3.radvd import RaSettings
from agent.metadata import haproxy


@dataclasses.dataclass(frozen=True, slots=True)
class L3Settings:
    """What shapes a router on this host (Neutron's l3_agent.ini names)."""
    state_path: str
    integration_bridge: str = 'br-int'
    external_bridge: str = 'br-ex'
    handle_internal_only_routers: bool = True
    ipv6: bool = True
    proxy_user: str = 'root'
    proxy_group: str = 'root'
    proxy_socket: str | None = None            # None: <state_path>/metadata_proxy
    proxy_rate_limit: haproxy.RateLimit | None = None
    debug: bool = False
    nat: NatSettings = NatSettings()
    ra: RaSettings | None = None       # None: the defaults under state_path
    host: str = ''                     # marks our ports (agent.dataplane.ownership)
    local_vlan_tagging: bool = True    # False: an L2 agent owns the ports' tags
    ha_settings: HaSettings | None = None   # None: the defaults under state_path
    metadata_proxy_mode: str = 'haproxy'    # or 'shared' (agent.metadata.node_proxy)
    ovs_use_veth: bool = False         # veth pairs, not internal ports (agent.dataplane.device)

    @property
    def ha(self) -> HaSettings:
        return self.ha_settings or HaSettings(os.path.join(self.state_path, 'ha_confs'))

    @property
    def metadata_port(self) -> int:
        return self.nat.metadata_port

    @property
    def enable_metadata_proxy(self) -> bool:
        return self.nat.enable_metadata_proxy

    @property
    def proxy_bind_address(self) -> str:
        """``0.0.0.0``, or ``::`` (both families) when IPv6 is enabled (§6.6)."""
        return '::' if self.ipv6 else '0.0.0.0'

    @classmethod
    def from_conf(cls, conf) -> L3Settings:
        user, group = haproxy.proxy_user_and_group(conf)
        return cls(state_path=conf.state_path,
                   integration_bridge=conf.ovs.integration_bridge,
                   external_bridge=conf.ovs.external_bridge,
                   handle_internal_only_routers=conf.handle_internal_only_routers,
                   ipv6=os.path.exists('/proc/sys/net/ipv6'),
                   proxy_user=user, proxy_group=group,
                   proxy_socket=getattr(conf, 'metadata_proxy_socket', None),
                   proxy_rate_limit=haproxy.RateLimit.from_conf(conf),
                   debug=bool(getattr(conf, 'debug', False)),
                   nat=NatSettings.from_conf(conf), ra=RaSettings.from_conf(conf),
                   host=conf.host, local_vlan_tagging=conf.ovs.local_vlan_tagging,
                   ha_settings=HaSettings.from_conf(conf),
                   metadata_proxy_mode=getattr(conf, 'metadata_proxy_mode', 'haproxy'),
                   ovs_use_veth=bool(getattr(conf, 'ovs_use_veth', False)))
