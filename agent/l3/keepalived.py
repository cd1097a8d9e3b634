"""keepalived of an HA router: its settings, keepalived.conf and ProcessSpec (pure).

One keepalived per HA router runs in the router's namespace with Neutron's layout
(neutron-agent-rpc.md §6.9)::

    keepalived -P -f <ha_confs_path>/<router>/keepalived.conf
               -p <ha_confs_path>/<router>.pid.keepalived
               -r <ha_confs_path>/<router>.pid.keepalived-vrrp

and one ``vrrp_instance VR_<vrid>`` on the router's ``ha-`` device, as Neutron's
``ha_router.py`` writes it: state BACKUP with ``nopreempt`` (a node that comes
back never takes the router from a live primary), priority 200 (see
DEFAULT_PRIORITY), the primary VIP
``169.254.0.<vrid>/24`` on ``ha-`` (never changed by a reload, so keepalived
never drops the router's other addresses on SIGHUP), the router's qr-/qg-
addresses and floating IPs as ``virtual_ipaddress_excluded`` and the gateway's
default route, on-link routes and extra routes as ``virtual_routes``.  The agent
never adds or removes those itself on an HA router: keepalived puts them on the
primary and takes them off a backup.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os

from agent.common import names
from agent.model.router import Router, RouterPort
from agent.process.spec import ProcessSpec

SERVICE = 'keepalived'
# Every node of a router has the same priority, so it elects nobody; it sets the
# backup's skew: keepalived declares the primary gone 3 * advert_int +
# (256 - priority) * advert_int / 256 s after its last advertisement.  Neutron's
# 50 makes that 7.6 s with advert_int 2, over issue 12's 3 * advert_int + 1 s
# target (the test bed's failover medians were 5.6-6.5 s, maxima 7.1 s); 200
# makes it 6.4 s.  A node of ours beside one of Neutron's agents on the same
# router would win elections they enter together (nopreempt keeps a live one).
DEFAULT_PRIORITY = 200
GARP_MASTER_DELAY = 60          # seconds: a second burst of GARPs after a takeover
# After a split brain (VRRP lost between the nodes, both primary) the switches
# may have learned the router's MACs (the same on every node) at the node that
# yields: it forwards until it hears the other, and the bridge ages a MAC out only
# after 300 s.  The one that yields says so with an advertisement
# (vrrp_higher_prio_send_advert) and the one that stays primary answers it with
# GARPs, again GARP_LOWER_PRIO_DELAY s later once the other has surely let go:
# without them the test bed lost 8 to 14 s of pings after 2 partitions in 5.
GARP_LOWER_PRIO_DELAY = 2
# A primary re-sends one GARP per address every GARP_MASTER_REFRESH s: a node
# killed with its keepalived keeps the router's addresses (nothing is left to
# remove them) and may still answer ARP with the router's MAC, teaching the
# switches the wrong port until the next GARP.  Without it the test bed lost 17 s
# of pings once in 15 agent-and-keepalived kills.  Cost: one frame per address
# per router every 10 s.
GARP_MASTER_REFRESH = 10
# The primary VIP: 169.254.0.<vrid>/24, the first /24 of 169.254.0.0/16 outside
# the metadata address and the HA networks' default 169.254.192.0/18 (Neutron's
# get_free_range with the default l3_ha_net_cidr).
PRIMARY_VIP_RANGE = ipaddress.ip_network('169.254.0.0/24')
AUTH_TYPES = ('AH', 'PASS')
STATE_FILE = 'state'
CONFIG_FILE = 'keepalived.conf'


class InvalidHaSettings(ValueError):
    """HA options keepalived (or this agent) cannot honour."""


@dataclasses.dataclass(frozen=True, slots=True)
class HaSettings:
    """``ha_confs_path``, ``ha_vrrp_*`` (Neutron's l3_agent.ini names)."""
    confs_path: str
    advert_int: int = 2
    auth_type: str = 'PASS'
    auth_password: str | None = None
    debug: bool = False

    def __post_init__(self):
        if not os.path.isabs(self.confs_path):
            raise InvalidHaSettings(f'ha_confs_path {self.confs_path!r} is not an '
                                    'absolute path')
        if self.auth_type not in AUTH_TYPES:
            raise InvalidHaSettings(f'ha_vrrp_auth_type {self.auth_type!r} is not one '
                                    f'of {", ".join(AUTH_TYPES)}')
        if self.auth_password is not None and (
                not self.auth_password or any(c.isspace() or c in '"{}#!'
                                              for c in self.auth_password)):
            # keepalived.conf has no quoting: a blank or a brace would change the
            # meaning of the file.  (VRRP itself uses only the first 8 bytes.)
            raise InvalidHaSettings('ha_vrrp_auth_password must be non-empty, without '
                                    'blanks, quotes, braces, "#" or "!"')
        if not 1 <= self.advert_int <= 255:
            raise InvalidHaSettings(f'ha_vrrp_advert_int {self.advert_int} is not '
                                    'within 1..255')

    @classmethod
    def from_conf(cls, conf) -> HaSettings:
        """From a ConfigOpts with ``l3_agent_opts``; refuses what is not built."""
        if conf.ha_vrrp_health_check_interval:
            raise InvalidHaSettings(
                f'ha_vrrp_health_check_interval = {conf.ha_vrrp_health_check_interval}: '
                'keepalived health checks of HA routers are not supported (set it to 0)')
        if conf.ha_conntrackd_enabled:
            raise InvalidHaSettings('ha_conntrackd_enabled = true: conntrackd is not '
                                    'supported for HA routers (a failover drops the '
                                    'connection tracking state; set it to false)')
        return cls(confs_path=os.path.abspath(conf.ha_confs_path),
                   advert_int=conf.ha_vrrp_advert_int,
                   auth_type=conf.ha_vrrp_auth_type,
                   auth_password=conf.ha_vrrp_auth_password or None,
                   debug=bool(getattr(conf, 'debug', False)))


# -- paths --------------------------------------------------------------------------

def conf_dir(ha: HaSettings, router_id: str) -> str:
    return os.path.join(ha.confs_path, names.validate_uuid(router_id, 'router id'))


def config_path(ha: HaSettings, router_id: str) -> str:
    return os.path.join(conf_dir(ha, router_id), CONFIG_FILE)


def state_path(ha: HaSettings, router_id: str) -> str:
    return os.path.join(conf_dir(ha, router_id), STATE_FILE)


def pid_file_path(ha: HaSettings, router_id: str) -> str:
    return os.path.join(ha.confs_path,
                        names.validate_uuid(router_id, 'router id') + '.pid.' + SERVICE)


def vrrp_pid_file_path(ha: HaSettings, router_id: str) -> str:
    return pid_file_path(ha, router_id) + '-vrrp'


# -- keepalived.conf ----------------------------------------------------------------

def primary_vip(vr_id: int) -> ipaddress.IPv4Interface:
    """``169.254.0.<vrid>/24``: the VIP whose holder is the primary."""
    return ipaddress.ip_interface(f'{PRIMARY_VIP_RANGE.network_address + vr_id}/'
                                  f'{PRIMARY_VIP_RANGE.prefixlen}')


def _cidrs(port: RouterPort) -> list[str]:
    return [f'{ip}/{prefixlen}' for ip, prefixlen, _ in port.fixed_ips]


def vips(router: Router, floating_ips=()) -> list[tuple[str, str]]:
    """(address/prefix, device) of every excluded VIP, in Neutron's order (by text)."""
    found: dict[str, str] = {}
    for port in router.interfaces:
        for cidr in _cidrs(port):
            found.setdefault(cidr, names.internal_device_name(port.id))
    if router.gw_port is not None:
        gw = names.gateway_device_name(router.gw_port.id)
        for cidr in _cidrs(router.gw_port):
            found.setdefault(cidr, gw)
        for fip in floating_ips:
            found.setdefault(f'{fip}/32', gw)
    return sorted(found.items())


def gateway_routes(gw_port: RouterPort | None) -> list[str]:
    """On-link routes to gateways outside their subnet, the default route(s) (one
    per family, the first gateway of the port's own subnets) and the on-link
    routes of the external network's other subnets."""
    if gw_port is None:
        return []
    dev = names.gateway_device_name(gw_port.id)
    own = {subnet_id for _, _, subnet_id in gw_port.fixed_ips}
    routes, defaults = [], {}
    for subnet in gw_port.subnets:
        if subnet.gateway_ip is None or subnet.id not in own:
            continue
        if subnet.gateway_ip not in subnet.cidr:
            routes.append(f'{subnet.gateway_ip} dev {dev} scope link')
        defaults.setdefault(subnet.gateway_ip.version, subnet.gateway_ip)
    for version in sorted(defaults):
        any_ = '0.0.0.0/0' if version == 4 else '::/0'
        routes.append(f'{any_} via {defaults[version]} dev {dev}')
    for cidr in sorted({str(s.cidr) for s in gw_port.extra_subnets}):
        routes.append(f'{cidr} dev {dev} scope link')
    return routes


def extra_routes(router: Router) -> list[str]:
    """The router's ``routes``: one line each, as Neutron writes them."""
    return [f'{r.destination} via {r.nexthop}' for r in router.routes]


def _block(title: str, lines) -> list[str]:
    return [f'    {title} {{', *(f'        {line}' for line in lines), '    }']


def render_config(router: Router, ha: HaSettings, floating_ips=()) -> str:
    """keepalived.conf of HA ``router`` (``floating_ips``: the active ones' addresses).

    VIPs and routes carry ``no_track`` (keepalived >= 2.0.11: a VIP or route
    that goes away does not fault the instance) and the routes ``protocol
    static``, as Neutron writes them with keepalived 2.
    """
    ha_dev = names.ha_device_name(router.ha_port.id)
    lines = ['global_defs {',
             '    notification_email_from neutron@openstack.local',
             '    router_id neutron',
             '    vrrp_higher_prio_send_advert true',
             '}',
             f'vrrp_instance VR_{router.ha_vr_id} {{',
             '    state BACKUP',
             f'    interface {ha_dev}',
             f'    virtual_router_id {router.ha_vr_id}',
             f'    priority {DEFAULT_PRIORITY}',
             f'    garp_master_delay {GARP_MASTER_DELAY}',
             f'    garp_lower_prio_delay {GARP_LOWER_PRIO_DELAY}',
             f'    garp_master_refresh {GARP_MASTER_REFRESH}',
             '    nopreempt',
             f'    advert_int {ha.advert_int}']
    if ha.auth_password:
        lines += _block('authentication', [f'auth_type {ha.auth_type}',
                                           f'auth_pass {ha.auth_password}'])
    lines += _block('track_interface', [ha_dev])
    lines += _block('virtual_ipaddress', [f'{primary_vip(router.ha_vr_id)} dev {ha_dev}'])
    excluded = vips(router, floating_ips)
    if excluded:
        lines += _block('virtual_ipaddress_excluded',
                        [f'{cidr} dev {dev} no_track' for cidr, dev in excluded])
    routes = gateway_routes(router.gw_port) + extra_routes(router)
    if routes:
        lines += _block('virtual_routes', [f'{r} no_track protocol static' for r in routes])
    lines.append('}')
    return '\n'.join(lines) + '\n'


def argv(ha: HaSettings, router_id: str) -> tuple[str, ...]:
    pid = pid_file_path(ha, router_id)
    return (SERVICE, '-P', '-f', config_path(ha, router_id), '-p', pid,
            '-r', vrrp_pid_file_path(ha, router_id), *(('-D',) if ha.debug else ()))


def process_spec(router_id: str, ha: HaSettings, config: str = '') -> ProcessSpec:
    """keepalived of ``router_id`` in its qrouter namespace, serving ``config``
    (written 0600: it may hold the VRRP password)."""
    return ProcessSpec(service=SERVICE, uuid=router_id,
                       namespace=names.router_namespace(router_id),
                       argv=argv(ha, router_id), pid_file=pid_file_path(ha, router_id),
                       config_files=((config_path(ha, router_id), config),),
                       config_mode=0o600,
                       companion_pid_files=(vrrp_pid_file_path(ha, router_id),))


def desired_spec(router: Router, ha: HaSettings, floating_ips=()) -> ProcessSpec:
    return process_spec(router.id, ha, render_config(router, ha, floating_ips))
