"""What dnsmasq's configuration depends on besides the network: settings and paths."""

from __future__ import annotations

import dataclasses
import os

from agent.common.names import validate_uuid

DEFAULT_LEASE_MAX = 2 ** 24


@dataclasses.dataclass(frozen=True, slots=True)
class DnsmasqSettings:
    """The agent options the dnsmasq files and command line are rendered from.

    Names follow Neutron's options (``dhcp_lease_duration`` -> ``lease_duration``…).
    """

    state_path: str = '/var/lib/netnode'
    dns_domain: str = 'openstacklocal'
    lease_duration: int = 86400          # seconds; -1 = infinite
    dns_servers: tuple[str, ...] = ()    # dnsmasq_dns_servers
    local_resolv: bool = False           # dnsmasq_local_resolv
    lease_max: int = DEFAULT_LEASE_MAX   # dnsmasq_lease_max
    enable_isolated_metadata: bool = False
    force_metadata: bool = False
    broadcast_reply: bool = False        # dhcp_broadcast_reply
    config_file: str = ''                # dnsmasq_config_file
    renewal_time: int = 0                # dhcp_renewal_time (T1), 0 = unset
    rebinding_time: int = 0              # dhcp_rebinding_time (T2), 0 = unset
    txt_record: str = ''                 # dnsmasq_txt_record
    # dnsmasq >= 2.81 accepts `tag:` in --dhcp-host (Neutron probes it at start).
    host_tag_supported: bool = True

    @property
    def confs_dir(self):
        """Neutron's ``dhcp_confs``: ``<state_path>/dhcp``."""
        return os.path.join(self.state_path, 'dhcp')

    @property
    def lease(self):
        """The lease field of --dhcp-range: ``86400s`` or ``infinite``."""
        return 'infinite' if self.lease_duration == -1 else f'{self.lease_duration}s'

    @classmethod
    def from_conf(cls, conf):
        """From a parsed ConfigOpts with the DHCP options registered in DEFAULT."""
        return cls(
            state_path=conf.state_path,
            dns_domain=conf.dns_domain or '',
            lease_duration=conf.dhcp_lease_duration,
            dns_servers=tuple(conf.dnsmasq_dns_servers or ()),
            local_resolv=conf.dnsmasq_local_resolv,
            lease_max=conf.dnsmasq_lease_max,
            enable_isolated_metadata=conf.enable_isolated_metadata,
            force_metadata=conf.force_metadata,
            broadcast_reply=conf.dhcp_broadcast_reply,
            config_file=conf.dnsmasq_config_file or '',
            renewal_time=conf.dhcp_renewal_time,
            rebinding_time=conf.dhcp_rebinding_time,
            txt_record=conf.dnsmasq_txt_record or '',
        )


@dataclasses.dataclass(frozen=True, slots=True)
class DhcpPaths:
    """``<state_path>/dhcp/<network_id>/{host,addn_hosts,opts,leases,pid,interface,iptables}``."""

    confs_dir: str
    network_id: str

    def __post_init__(self):
        validate_uuid(self.network_id, 'network id')

    @classmethod
    def of(cls, settings: DnsmasqSettings, network_id: str) -> DhcpPaths:
        return cls(settings.confs_dir, network_id)

    @property
    def directory(self):
        return os.path.join(self.confs_dir, self.network_id)

    def _file(self, name):
        return os.path.join(self.directory, name)

    host = property(lambda self: self._file('host'))
    addn_hosts = property(lambda self: self._file('addn_hosts'))
    opts = property(lambda self: self._file('opts'))
    leases = property(lambda self: self._file('leases'))
    pid = property(lambda self: self._file('pid'))
    interface = property(lambda self: self._file('interface'))
    iptables = property(lambda self: self._file('iptables'))   # agent.drivers.iptables' stamp
