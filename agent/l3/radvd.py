"""IPv6 router advertisements of a router: radvd's config and ProcessSpec (pure).

A router whose qr- ports have IPv6 subnets with an ``ipv6_ra_mode`` runs one radvd
in its namespace, as Neutron's L3 agent does::

    radvd -C <ra_confs>/<router id>.radvd.conf
          -p <state_path>/external/pids/<router id>.pid.radvd -m syslog [-u <radvd_user>]

One ``interface qr-…`` block per such port (Neutron's template): AdvSendAdvert,
Min/MaxRtrAdvInterval, AdvLinkMTU from the network MTU, AdvManagedFlag for
dhcpv6-stateful, AdvOtherConfigFlag for dhcpv6-stateful and -stateless, RDNSS from
the subnets' IPv6 nameservers and one ``prefix`` per RA subnet (autonomous for
slaac and dhcpv6-stateless).  A router without RA subnets runs no radvd.
"""

from __future__ import annotations

import dataclasses
import os

from agent.common import names
from agent.model.network import IPV6_DHCP_STATEFUL, IPV6_DHCP_STATELESS, IPV6_SLAAC
from agent.model.router import Router, RouterPort, RouterSubnet
from agent.process.spec import ProcessSpec

SERVICE = 'radvd'
IPV6_MIN_MTU = 1280
MAX_RDNSS = 3                      # radvd takes at most three addresses per RDNSS
AUTONOMOUS_MODES = (IPV6_SLAAC, IPV6_DHCP_STATELESS)
OTHER_CONFIG_MODES = (IPV6_DHCP_STATEFUL, IPV6_DHCP_STATELESS)


class InvalidRaSettings(ValueError):
    """Router advertisement options radvd would refuse."""


@dataclasses.dataclass(frozen=True, slots=True)
class RaSettings:
    """``ra_confs``, ``min_rtr_adv_interval``, ``max_rtr_adv_interval``, ``radvd_user``."""
    ra_confs: str
    pid_dir: str
    min_interval: int = 30
    max_interval: int = 100
    user: str = ''

    def __post_init__(self):
        if not os.path.isabs(self.ra_confs) or not os.path.isabs(self.pid_dir):
            raise InvalidRaSettings(f'ra_confs {self.ra_confs!r} and the pid directory '
                                    f'{self.pid_dir!r} must be absolute paths')
        if not 3 <= self.min_interval <= 0.75 * self.max_interval:
            raise InvalidRaSettings(
                f'min_rtr_adv_interval {self.min_interval} must be at least 3 and at '
                f'most 0.75 * max_rtr_adv_interval ({self.max_interval})')
        if not 4 <= self.max_interval <= 1800:
            raise InvalidRaSettings(f'max_rtr_adv_interval {self.max_interval} is not '
                                    'within 4..1800')
        if self.user and (self.user.startswith('-') or any(c.isspace() for c in self.user)):
            raise InvalidRaSettings(f'radvd_user {self.user!r} is not a user name')

    @classmethod
    def from_conf(cls, conf) -> RaSettings:
        """From a ConfigOpts with ``l3_agent_opts`` in DEFAULT."""
        return cls(ra_confs=os.path.abspath(conf.ra_confs),
                   pid_dir=os.path.join(os.path.abspath(conf.state_path), 'external', 'pids'),
                   min_interval=conf.min_rtr_adv_interval,
                   max_interval=conf.max_rtr_adv_interval, user=conf.radvd_user)

    @classmethod
    def default(cls, state_path: str) -> RaSettings:
        return cls(os.path.join(state_path, 'ra'), os.path.join(state_path, 'external', 'pids'))


def ra_subnets(port: RouterPort) -> tuple[RouterSubnet, ...]:
    """The port's IPv6 subnets with an ``ipv6_ra_mode`` (the ones radvd advertises)."""
    return tuple(s for s in port.subnets
                 if s.cidr.version == 6 and s.ipv6_ra_mode is not None)


def _interface(port: RouterPort, ra: RaSettings) -> list[str]:
    subnets = ra_subnets(port)
    modes = {s.ipv6_ra_mode for s in subnets}
    lines = [f'interface {names.internal_device_name(port.id)}', '{',
             '    AdvSendAdvert on;',
             f'    MinRtrAdvInterval {ra.min_interval};',
             f'    MaxRtrAdvInterval {ra.max_interval};']
    if port.mtu and port.mtu >= IPV6_MIN_MTU:
        lines.append(f'    AdvLinkMTU {port.mtu};')
    if IPV6_DHCP_STATEFUL in modes:
        lines.append('    AdvManagedFlag on;')
    if modes.intersection(OTHER_CONFIG_MODES):
        lines.append('    AdvOtherConfigFlag on;')
    servers = list(dict.fromkeys(ip for s in subnets for ip in s.dns_nameservers
                                 if ip.version == 6))[:MAX_RDNSS]
    if servers:
        lines.append(f'    RDNSS {" ".join(str(ip) for ip in servers)} {{}};')
    for subnet in subnets:
        autonomous = 'on' if subnet.ipv6_ra_mode in AUTONOMOUS_MODES else 'off'
        lines += [f'    prefix {subnet.cidr}', '    {', '        AdvOnLink on;',
                  f'        AdvAutonomous {autonomous};', '    };']
    lines.append('};')
    return lines


def render_config(router: Router, ra: RaSettings) -> str | None:
    """radvd.conf for ``router``, or None when none of its qr- ports has RA subnets."""
    blocks = [_interface(port, ra) for port in router.interfaces if ra_subnets(port)]
    if not blocks:
        return None
    return '\n'.join(line for block in blocks for line in (*block, ''))


def config_path(router_id: str, ra: RaSettings) -> str:
    return os.path.join(ra.ra_confs,
                        names.validate_uuid(router_id, 'router id') + '.radvd.conf')


def pid_file_path(router_id: str, ra: RaSettings) -> str:
    return os.path.join(ra.pid_dir,
                        names.validate_uuid(router_id, 'router id') + '.pid.' + SERVICE)


def process_spec(router_id: str, ra: RaSettings, config: str = '') -> ProcessSpec:
    """radvd of ``router_id`` in its qrouter namespace, serving ``config``."""
    conf, pid = config_path(router_id, ra), pid_file_path(router_id, ra)
    argv = (SERVICE, '-C', conf, '-p', pid, '-m', 'syslog',
            *(('-u', ra.user) if ra.user else ()))
    return ProcessSpec(service=SERVICE, uuid=router_id,
                       namespace=names.router_namespace(router_id), argv=argv,
                       pid_file=pid, config_files=((conf, config),))


def desired_spec(router: Router, ra: RaSettings) -> ProcessSpec | None:
    """The radvd ``router`` needs, or None (no RA subnet on any of its qr- ports)."""
    config = render_config(router, ra)
    return None if config is None else process_spec(router.id, ra, config)
