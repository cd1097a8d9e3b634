"""The haproxy metadata proxy: its configuration and its ProcessSpec.

The rendered file has exactly the directives Neutron writes (reference §6.6 and
``neutron-golden/haproxy-qrouter.conf``), plus ``del-header`` lines that drop every
header a VM could send to impersonate another network, router or instance. They
come before our ``set-header``, and ``option forwardfor`` appends the real source
address after all ``http-request`` rules ran, so the metadata agent only ever sees
headers the proxy wrote.
"""

from __future__ import annotations

import dataclasses
import grp
import logging
import os
import pwd

from agent.common import fileutils, names
from agent.process.spec import ProcessSpec

LOG = logging.getLogger(__name__)


def effective_user_and_group() -> tuple[str, str]:
    """The names of this process's effective user and group: what haproxy runs as
    when ``metadata_proxy_user``/``metadata_proxy_group`` are empty."""
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        user = str(os.geteuid())
    try:
        group = grp.getgrgid(os.getegid()).gr_name
    except KeyError:
        group = str(os.getegid())
    return user, group


def proxy_user_and_group(conf) -> tuple[str, str]:
    """The names of the user and group the proxies run as: ``metadata_proxy_user``
    and ``metadata_proxy_group`` (names or ids), the agent's own where empty.
    ValueError names the option when the user or group does not exist."""
    own_user, own_group = effective_user_and_group()
    user = getattr(conf, 'metadata_proxy_user', '') or own_user
    group = getattr(conf, 'metadata_proxy_group', '') or own_group
    return (_entry('metadata_proxy_user', user, pwd.getpwuid, pwd.getpwnam).pw_name,
            group_entry(group).gr_name)


def group_entry(group: str) -> grp.struct_group:
    """``metadata_proxy_group`` (name or gid); ValueError names a missing one."""
    return _entry('metadata_proxy_group', group, grp.getgrgid, grp.getgrnam)


def _entry(option: str, value: str, by_id, by_name):
    try:
        return by_id(int(value)) if value.isdigit() else by_name(value)
    except KeyError:
        raise ValueError(f'{option} {value!r} does not exist: create it '
                         f'(etc/sysusers.d/netnode.conf, tools/setup-host.sh) or set '
                         f'{option}') from None


@dataclasses.dataclass(frozen=True, slots=True)
class RateLimit:
    """Neutron's ``[metadata_rate_limiting]``: requests per source address allowed
    in a base and a burst window; haproxy answers 429 past either."""
    base_window: int = 10
    base_limit: int = 10
    burst_window: int = 10
    burst_limit: int = 10
    ip_version: int = 4

    @classmethod
    def from_conf(cls, conf) -> RateLimit | None:
        """None when rate limiting is off, or ``ip_versions`` is not exactly one
        family (logged, as Neutron does)."""
        group = getattr(conf, 'metadata_rate_limiting', None)
        if group is None or not group.rate_limit_enabled:
            return None
        versions = sorted(set(group.ip_versions))
        if len(versions) != 1:
            LOG.warning('[metadata_rate_limiting] ip_versions %s: haproxy limits one '
                        'family, not both; metadata rate limiting is off', versions)
            return None
        return cls(group.base_window_duration, group.base_query_rate_limit,
                   group.burst_window_duration, group.burst_query_rate_limit, versions[0])

    def lines(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(the two stick-table backends, the listener's track and deny rules)."""
        kind = 'ipv6' if self.ip_version == 6 else 'ip'
        expire = max(self.base_window, self.burst_window)
        tables = tuple(
            f'backend {name}_rate_limiter\n    stick-table type {kind} size 10k '
            f'expire {expire}s store http_req_rate({window}s)\n'
            for name, window in (('base', self.base_window), ('burst', self.burst_window)))
        rules = ('http-request track-sc0 src table base_rate_limiter',
                 'http-request track-sc1 src table burst_rate_limiter',
                 'http-request deny deny_status 429 if { src_http_req_rate(base_rate_limiter)'
                 f' gt {int(self.base_limit)} }}',
                 'http-request deny deny_status 429 if { src_http_req_rate(burst_rate_limiter)'
                 f' gt {int(self.burst_limit)} }}')
        return tables, rules


SERVICE = 'haproxy'
METADATA_V4_IP = '169.254.169.254'
METADATA_V6_IP = 'fe80::a9fe:a9fe'
METADATA_PORT_ISOLATED = 80     # qdhcp- proxy
METADATA_PORT_ROUTER = 9697     # qrouter- proxy ([DEFAULT] metadata_port)
CONFIG_MODE = 0o640

_RESOURCE_HEADER = {'network': 'Network', 'router': 'Router'}

# Client-supplied headers that would let a VM lie about who it is (haproxy 2.6
# supports `del-header <name> -m beg`; names are matched case-insensitively).
UNTRUSTED_HEADERS = (
    'http-request del-header X-Forwarded-For',
    'http-request del-header Forwarded',
    'http-request del-header X-Neutron- -m beg',
    'http-request del-header X-Instance-ID -m beg',
    'http-request del-header X-Tenant-ID',
)

# ``httpclient.ssl.verify none``: the internal HTTP client (Lua, OCSP updates) is
# never used here; without it haproxy 2.6 reads every system CA certificate at
# start, which was two thirds of a proxy's start (~35 ms of ~50 ms per router).
_TEMPLATE = """
global
    log         /dev/log local0 {log_level}
    log-tag     haproxy-metadata-proxy-{uuid}
    user        {user}
    group       {group}
    maxconn     1024
    nbthread    2
    pidfile     {pid_file}
    daemon
    httpclient.ssl.verify none

defaults
    log global
    mode http
    option httplog
    option dontlognull
    option http-server-close
    option forwardfor
    retries                 3
    timeout http-request    {timeout_http_request}
    timeout connect         {timeout_connect}
    timeout client          {timeout_client}
    timeout server          {timeout_server}
    timeout http-keep-alive {timeout_http_keep_alive}

{rate_tables}listen listener
    bind {bind_address}:{bind_port}
    {bind_v6_line}
{rate_rules}    server metadata {socket_path}

{untrusted}    http-request del-header X-Neutron-{other_header}-ID
    http-request set-header X-Neutron-{header}-ID {uuid}
"""


def _check_token(value, what):
    if not value or any(c.isspace() for c in str(value)) or '#' in str(value):
        raise ValueError(f'haproxy config: invalid {what} {value!r}')
    return value


def render_haproxy_config(uuid: str, kind: str, bind_address: str, bind_port: int,
                          socket_path: str, pid_file: str, user: str, group: str,
                          bind_v6_interface: str | None = None, *, debug: bool = False,
                          timeout_http_request='30s', timeout_connect='30s',
                          timeout_client='32s', timeout_server='32s',
                          timeout_http_keep_alive='30s',
                          rate_limit: RateLimit | None = None) -> str:
    """The metadata proxy config for a network (qdhcp) or router (qrouter) ``uuid``.

    ``bind_v6_interface`` adds ``bind [fe80::a9fe:a9fe]:<port> interface <dev>``
    (isolated metadata over IPv6, once the tap passed DAD); ``rate_limit`` adds
    Neutron's stick tables and 429 rules, keyed by the source address haproxy
    saw (never a header).
    """
    if kind not in _RESOURCE_HEADER:
        raise ValueError(f'haproxy config for {uuid}: kind {kind!r} is not '
                         "'network' or 'router'")
    names.validate_uuid(uuid, f'metadata proxy {kind} id')
    for value, what in ((bind_address, 'bind address'), (socket_path, 'socket path'),
                        (pid_file, 'pid file'), (user, 'user'), (group, 'group')):
        _check_token(value, what)
    if not 0 < int(bind_port) < 65536:
        raise ValueError(f'haproxy config for {uuid}: invalid port {bind_port!r}')
    bind_v6_line = ''
    if bind_v6_interface:
        _check_token(bind_v6_interface, 'IPv6 bind interface')
        bind_v6_line = f'bind [{METADATA_V6_IP}]:{int(bind_port)} interface {bind_v6_interface}'
    other = 'Router' if kind == 'network' else 'Network'
    tables, rules = rate_limit.lines() if rate_limit is not None else ((), ())
    return _TEMPLATE.format(
        rate_tables=''.join(t + '\n' for t in tables),
        rate_rules=''.join(f'    {line}\n' for line in rules),
        log_level='debug' if debug else 'info', uuid=uuid, user=user, group=group,
        pid_file=pid_file, bind_address=bind_address, bind_port=int(bind_port),
        bind_v6_line=bind_v6_line, socket_path=socket_path,
        untrusted=''.join(f'    {line}\n' for line in UNTRUSTED_HEADERS),
        header=_RESOURCE_HEADER[kind], other_header=other,
        timeout_http_request=timeout_http_request, timeout_connect=timeout_connect,
        timeout_client=timeout_client, timeout_server=timeout_server,
        timeout_http_keep_alive=timeout_http_keep_alive)


def config_path(state_path: str, uuid: str) -> str:
    return os.path.join(state_path, 'ns-metadata-proxy',
                        names.validate_uuid(uuid, 'metadata proxy id') + '.conf')


def pid_file_path(state_path: str, uuid: str) -> str:
    return os.path.join(state_path, 'external', 'pids',
                        names.validate_uuid(uuid, 'metadata proxy id') + '.pid.haproxy')


def serves(state_path: str, uuid: str, kind: str) -> bool:
    """Whether the proxy config of ``uuid`` under ``state_path`` serves that
    ``kind`` ('network' or 'router': the two share the pid directory)."""
    config = fileutils.read_text(config_path(state_path, uuid), '', errors='replace') or ''
    return f'X-Neutron-{_RESOURCE_HEADER[kind]}-ID {uuid}' in config


def running_for(processes, state_path: str, kind: str,
                known: frozenset[str] = frozenset()) -> frozenset[str]:
    """Ids not in ``known`` of the ``kind`` whose haproxy of ours runs (for the
    prunes: a config is read only for the proxy of an id not known)."""
    pid_dir = os.path.dirname(pid_file_path(state_path, names.new_uuid()))
    return frozenset(p.uuid for p in processes.list_running(SERVICE, pid_dir)
                     if p.uuid not in known and serves(state_path, p.uuid, kind))


def default_socket_path(state_path: str) -> str:
    """``[DEFAULT] metadata_proxy_socket`` default: ``$state_path/metadata_proxy``."""
    return os.path.join(state_path, 'metadata_proxy')


def metadata_proxy_spec(uuid: str, kind: str, namespace: str | None, state_path: str,
                        bind_address: str, bind_port: int, user: str, group: str,
                        socket_path: str | None = None,
                        bind_v6_interface: str | None = None,
                        debug: bool = False,
                        rate_limit: RateLimit | None = None) -> ProcessSpec:
    """The ProcessSpec of the metadata proxy of network or router ``uuid``.

    Config ``<state_path>/ns-metadata-proxy/<uuid>.conf``, pid file
    ``<state_path>/external/pids/<uuid>.pid.haproxy``, argv ``haproxy -f <cfg>``.
    """
    cfg = config_path(state_path, uuid)
    pid_file = pid_file_path(state_path, uuid)
    content = render_haproxy_config(
        uuid, kind, bind_address, bind_port, socket_path or default_socket_path(state_path),
        pid_file, user, group, bind_v6_interface, debug=debug, rate_limit=rate_limit)
    return ProcessSpec(service=SERVICE, uuid=uuid, namespace=namespace,
                       argv=('haproxy', '-f', cfg), pid_file=pid_file,
                       config_files=((cfg, content),), config_mode=CONFIG_MODE)
