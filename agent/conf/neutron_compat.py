"""Neutron's agent options that netnode recognises without implementing them.

An operator's ``dhcp_agent.ini``, ``l3_agent.ini`` and ``metadata_agent.ini`` (and the
``neutron.conf`` devstack passes to every agent) carry options that have no meaning
here.  Each one below is registered with Neutron's name, group, type and default, so
oslo.config parses and type-checks it; at start-up :func:`decide` sorts what the
operator set:

* a value netnode does by itself (``interface_driver = openvswitch``,
  ``agent_mode = legacy``…) passes in silence;
* a value it cannot honour stops the agent with an error naming the option
  (``agent_mode = dvr``, ``interface_driver = linuxbridge``…);
* anything else is logged once as ignored (``root_helper``, ``[privsep]``, the
  ``ha_*`` keepalived settings while HA routers are not built…).

Options netnode implements are not here (their own definitions in
:mod:`agent.conf.options` carry Neutron's names); an option some other module of ours
registers first is ours and :func:`register` leaves it alone.  Options nobody
registers are ignored by oslo.config, so an unknown option never stops an agent.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

from oslo_config import cfg

OVS_INTERFACE_DRIVERS = ('openvswitch', 'neutron.agent.linux.interface.OVSInterfaceDriver')
DNSMASQ_DRIVERS = ('neutron.agent.linux.dhcp.Dnsmasq', 'dnsmasq')
PRIVSEP_GROUPS = ('privsep', 'privsep_dhcp_release', 'privsep_ovs_vsctl',
                  'privsep_namespace', 'privsep_conntrack', 'privsep_link')


@dataclasses.dataclass(frozen=True, slots=True)
class NeutronOption:
    """One Neutron option: ``honoured`` values pass in silence, others are refused
    (``refuse``) or logged as ignored (Neutron's default of an ignored option passes
    in silence too: it asks for nothing); ``reason`` says what netnode does instead."""

    group: str                       # 'DEFAULT', 'AGENT', 'privsep', ...
    opt: cfg.Opt
    reason: str
    honoured: tuple = ()
    refuse: bool = False

    @property
    def name(self) -> str:
        return self.opt.dest

    @property
    def key(self) -> tuple[str, str]:
        return self.group, self.name


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    errors: tuple[str, ...] = ()     # the agent must not start
    ignored: tuple[str, ...] = ()    # logged once


def _label(option: NeutronOption, value) -> str:
    shown = '****' if option.opt.secret else value
    return f'[{option.group}] {option.name} = {shown}'


def decide(given: Mapping[tuple[str, str], object], options) -> Verdict:
    """Sort the values the operator set (``{(group, name): value}``, only options
    read from a file or the command line) of ``options``."""
    errors: list[str] = []
    ignored: list[str] = []
    for option in options:
        if option.key not in given:
            continue
        value = given[option.key]
        if value in option.honoured or (not option.refuse and value == option.opt.default):
            continue
        line = f'{_label(option, value)}: {option.reason}'
        (errors if option.refuse else ignored).append(line)
    return Verdict(tuple(errors), tuple(ignored))


def register(conf, options) -> tuple[NeutronOption, ...]:
    """Register ``options`` on ``conf`` before it parses; returns those registered
    here (an option already registered under that name is one netnode implements)."""
    mine = []
    for option in options:
        group = None if option.group == 'DEFAULT' else option.group
        if group is None:
            ours = option.name in conf
        else:
            ours = group in conf and option.name in conf[group]
        if not ours:
            conf.register_opt(option.opt, group=group)
            mine.append(option)
    return tuple(mine)


def operator_values(conf, options) -> dict[tuple[str, str], object]:
    """``{(group, name): value}`` of the options the operator set (file, command
    line or environment), read from the parsed ``conf``."""
    given = {}
    for option in options:
        group = None if option.group == 'DEFAULT' else option.group
        where = conf.get_location(option.name, group)
        if where is not None and where.location.is_user_controlled:
            section = conf if group is None else conf[group]
            given[option.key] = getattr(section, option.name)
    return given


# -- the options ------------------------------------------------------------------

def _refused(group, opt, reason, *honoured):
    return NeutronOption(group, opt, reason, honoured=honoured, refuse=True)


def _ignored(group, opt, reason, *honoured):
    return NeutronOption(group, opt, reason, honoured=honoured)


_NO_ROOT_HELPER = ('netnode runs no root helper or privsep daemon: the agent itself '
                   'has the privileges it needs')

COMMON = (
    _ignored('AGENT', cfg.StrOpt('root_helper', default='sudo'), _NO_ROOT_HELPER),
    _ignored('AGENT', cfg.StrOpt('root_helper_daemon'), _NO_ROOT_HELPER),
    _ignored('AGENT', cfg.BoolOpt('use_helper_for_ns_read', default=True),
             _NO_ROOT_HELPER),
    _ignored('AGENT', cfg.StrOpt('kill_scripts_path', default='/etc/neutron/kill_scripts/'),
             'netnode signals its children itself'),
    _ignored('DEFAULT', cfg.StrOpt('external_pids', default='$state_path/external/pids'),
             'netnode keeps the pid files of its children beside their other files '
             'under state_path'),
) + tuple(
    _ignored(group, cfg.StrOpt('helper_command'), _NO_ROOT_HELPER)
    for group in PRIVSEP_GROUPS
)

# DHCP and L3 agents: the ports they plug.
INTERFACE = (
    _refused('DEFAULT', cfg.StrOpt('interface_driver', default='openvswitch'),
             'netnode plugs its ports into Open vSwitch only (interface_driver = '
             'openvswitch or neutron.agent.linux.interface.OVSInterfaceDriver)',
             *OVS_INTERFACE_DRIVERS),
) + tuple(
    _ignored('metadata_haproxy', cfg.IntOpt(name, default=default),
             'the metadata proxies keep their own timeouts')
    for name, default in (('timeout_connect', 30), ('timeout_client', 32),
                          ('timeout_server', 32), ('timeout_http_request', 30),
                          ('timeout_http_keep_alive', 30))
)

L3 = COMMON + INTERFACE + (
    _refused('DEFAULT', cfg.StrOpt('agent_mode', default='legacy'),
             'netnode runs centralised (legacy) routers only: no DVR', 'legacy'),
    _ignored('DEFAULT', cfg.BoolOpt('l3_ha', default=False),
             'a server option: the controller (or neutron-server) makes routers HA'),
    _refused('DEFAULT', cfg.StrOpt('ipv6_gateway', default=''),
             'an IPv6 default route without a gateway subnet is not built', ''),
    _refused('DEFAULT', cfg.BoolOpt('cleanup_on_shutdown', default=False),
             'the L3 agent never removes routers when it stops (the data plane keeps '
             'serving and the next start adopts it)', False),
    _refused('AGENT', cfg.ListOpt('extensions', default=[]),
             'no L3 agent extensions (port forwarding, QoS, NDP proxy, ...) are built',
             []),
    _ignored('DEFAULT', cfg.BoolOpt('per_router_log_files', default=False),
             'the L3 agent logs to one file'),
    _ignored('DEFAULT', cfg.BoolOpt('router_log_files_in_ha_confs', default=True),
             'keepalived logs to syslog; the HA state watcher logs to '
             '<ha_confs_path>/watcher.log'),
    _ignored('DEFAULT', cfg.StrOpt('router_id', default=''),
             'the L3 agent hosts the routers neutron-server schedules to it'),
    _ignored('DEFAULT', cfg.IntOpt('periodic_interval', default=40),
             'the L3 agent resyncs every resync_interval seconds'),
    _ignored('DEFAULT', cfg.IntOpt('periodic_fuzzy_delay', default=5),
             'the L3 agent resyncs every resync_interval seconds'),
) + (
    _ignored('DEFAULT', cfg.IntOpt('ha_keepalived_state_change_server_threads', default=1),
             'one HA state watcher per agent reports every HA router\'s state'),
)

DHCP = COMMON + INTERFACE + (
    _refused('DEFAULT', cfg.StrOpt('dhcp_driver', default=DNSMASQ_DRIVERS[0]),
             'netnode serves DHCP with dnsmasq (dhcp_driver = '
             'neutron.agent.linux.dhcp.Dnsmasq)', *DNSMASQ_DRIVERS),
    _refused('DEFAULT', cfg.BoolOpt('enable_metadata_network', default=False),
             'metadata access networks are not served; enable_isolated_metadata and '
             'force_metadata are', False),
    _refused('DEFAULT', cfg.BoolOpt('dnsmasq_enable_addr6_list', default=False),
             'dnsmasq gets one dhcp-host entry per IPv6 address', False),
    _ignored('DEFAULT', cfg.StrOpt('dhcp_confs', default='$state_path/dhcp'),
             'netnode keeps the dnsmasq files under $state_path/dhcp'),
    _ignored('DEFAULT', cfg.StrOpt('dnsmasq_base_log_dir'),
             'dnsmasq keeps no log file of its own'),
    _ignored('DEFAULT', cfg.IntOpt('bulk_reload_interval', default=0),
             'dnsmasq reloads are coalesced per network already'),
)

METADATA = COMMON + (
    _ignored('DEFAULT', cfg.IntOpt('metadata_workers'),
             'the metadata agent is one process serving requests on threads'),
    _refused('DEFAULT', cfg.StrOpt('auth_ca_cert'),
             'the Nova metadata API is verified against the system CA store '
             '(or not at all: nova_metadata_insecure)', None, ''),
    _refused('DEFAULT', cfg.StrOpt('nova_client_cert', default=''),
             'no client certificate is presented to the Nova metadata API', ''),
    _refused('DEFAULT', cfg.StrOpt('nova_client_priv_key', default=''),
             'no client certificate is presented to the Nova metadata API', ''),
    _ignored('cache', cfg.BoolOpt('enabled', default=False),
             'the metadata agent caches lookups for metadata_cache_ttl seconds'),
    _ignored('cache', cfg.StrOpt('backend', default='dogpile.cache.null'),
             'the metadata agent caches lookups for metadata_cache_ttl seconds'),
)


def metadata_backend(conf) -> str:
    """``metadata_backend``; unset, ``nova`` when the operator configured Nova
    (``nova_metadata_host`` or ``metadata_proxy_shared_secret``, as every Neutron
    ``metadata_agent.ini`` does), otherwise ``netnode``."""
    if conf.metadata_backend:
        return conf.metadata_backend
    for name in ('nova_metadata_host', 'metadata_proxy_shared_secret'):
        where = conf.get_location(name)
        if where is not None and where.location.is_user_controlled:
            return 'nova'
    return 'netnode'
