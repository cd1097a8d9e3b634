"""Where the all-in-one keeps things and what it names them (environment overrides),
and the configuration files it writes for the services.

Every name the instance uses on the host comes from here, so a second instance
(a test) with other ``NETNODE_AIO_*`` values shares nothing with the first: its
own directories, bridges, RabbitMQ vhost and exchange, API port and outside
namespace.  Processes of an instance are recognised by its state directory in
their command line (the services get their config files from under it, the
children of the agents get the state path).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket

ENV_DOC = """\
NETNODE_AIO_DIR          state directory (default /var/lib/netnode-aio)
NETNODE_AIO_ETC_DIR      config files (default $NETNODE_AIO_DIR/etc)
NETNODE_AIO_LOG_DIR      logs (default /var/log/netnode-aio)
NETNODE_AIO_INT_BRIDGE   integration bridge (default br-int)
NETNODE_AIO_EX_BRIDGE    external bridge (default br-ex)
NETNODE_AIO_VHOST        RabbitMQ vhost (default netnode-aio)
NETNODE_AIO_EXCHANGE     control_exchange (default netnode-aio)
NETNODE_AIO_PORT         REST API port on 127.0.0.1 (default 9696)
NETNODE_AIO_HOST         host name of the agents (default: this machine's)
NETNODE_AIO_OUTSIDE_NS   the 'outside' namespace (default aio-outside-<hash of dir>)
NETNODE_AIO_DATAPATH     OVS datapath of the bridges (default netdev)
NETNODE_AIO_DEBUG        debug logs of the services (default true)
"""

SERVICES = ('netnode-server', 'netnode-dhcp-agent', 'netnode-l3-agent',
            'netnode-metadata-agent')
AGENT_BINARIES = SERVICES[1:]
STATE_FILE = 'aio-state.json'


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:6]


@dataclasses.dataclass(frozen=True)
class Settings:
    state_dir: str
    etc_dir: str
    log_dir: str
    int_bridge: str
    ex_bridge: str
    vhost: str
    exchange: str
    port: int
    host: str
    outside_ns: str
    datapath: str
    debug: bool

    @classmethod
    def from_env(cls, env=None) -> Settings:
        env = os.environ if env is None else env
        state_dir = os.path.abspath(env.get('NETNODE_AIO_DIR') or '/var/lib/netnode-aio')
        tag = _short_hash(state_dir)
        settings = cls(
            state_dir=state_dir,
            etc_dir=os.path.abspath(env.get('NETNODE_AIO_ETC_DIR')
                                    or os.path.join(state_dir, 'etc')),
            log_dir=os.path.abspath(env.get('NETNODE_AIO_LOG_DIR') or '/var/log/netnode-aio'),
            int_bridge=env.get('NETNODE_AIO_INT_BRIDGE') or 'br-int',
            ex_bridge=env.get('NETNODE_AIO_EX_BRIDGE') or 'br-ex',
            vhost=env.get('NETNODE_AIO_VHOST') or 'netnode-aio',
            exchange=env.get('NETNODE_AIO_EXCHANGE') or 'netnode-aio',
            port=int(env.get('NETNODE_AIO_PORT') or 9696),
            host=env.get('NETNODE_AIO_HOST') or socket.gethostname(),
            outside_ns=env.get('NETNODE_AIO_OUTSIDE_NS') or f'aio-outside-{tag}',
            datapath=env.get('NETNODE_AIO_DATAPATH') or 'netdev',
            debug=(env.get('NETNODE_AIO_DEBUG') or 'true').lower() in ('1', 'true', 'yes'),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        for bridge in (self.int_bridge, self.ex_bridge):
            if not 0 < len(bridge) <= 15:
                raise ValueError(f'bridge name {bridge!r}: 1 to 15 characters')
        if self.int_bridge == self.ex_bridge:
            raise ValueError('the integration and external bridges must differ')
        if self.state_dir in ('/', '/var', '/var/lib', '/tmp', '/etc', '/var/log'):
            raise ValueError(f'NETNODE_AIO_DIR={self.state_dir}: too broad a directory')
        if self.vhost == '/':
            raise ValueError('NETNODE_AIO_VHOST: use a vhost of its own, not "/" (queues '
                             'are named by topic: two controllers on one vhost steal '
                             "each other's messages, whatever their exchanges)")

    # -- derived names ------------------------------------------------------------------

    @property
    def marker(self) -> str:
        """In the command line of every process of this instance."""
        return self.state_dir.rstrip('/') + '/'

    @property
    def markers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.marker, self.etc_dir.rstrip('/') + '/')))

    @property
    def outside_dev(self) -> str:
        return f'aio-{_short_hash(self.state_dir)}-o'

    @property
    def transport_url(self) -> str:
        return f'rabbit://guest:guest@127.0.0.1:5672/{self.vhost}'

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    @property
    def run_dir(self) -> str:
        return os.path.join(self.state_dir, 'run')

    @property
    def state_file(self) -> str:
        return os.path.join(self.state_dir, STATE_FILE)

    def conf(self, name: str) -> str:
        return os.path.join(self.etc_dir, name)

    @property
    def common_conf(self) -> str:
        return self.conf('netnode.conf')

    def service_confs(self, service: str) -> list[str]:
        """The --config-file list of a service."""
        own = {'netnode-server': 'server.conf', 'netnode-dhcp-agent': 'dhcp_agent.ini',
               'netnode-l3-agent': 'l3_agent.ini',
               'netnode-metadata-agent': 'metadata_agent.ini'}[service]
        return [self.common_conf, self.conf(own)]

    def log_file(self, service: str) -> str:
        return os.path.join(self.log_dir, f'{service}.log')

    def pid_file(self, service: str) -> str:
        return os.path.join(self.run_dir, f'{service}.pid')

    # -- configuration files ------------------------------------------------------------

    def config_files(self) -> dict[str, str]:
        """{path: content} of every config file of the instance."""
        debug = 'true' if self.debug else 'false'
        common = f"""\
# netnode all-in-one: read by every service (written by tools/all-in-one.sh)
[DEFAULT]
host = {self.host}
state_path = {self.state_dir}
transport_url = {self.transport_url}
control_exchange = {self.exchange}
rpc_response_timeout = 20
debug = {debug}
# Notifications do the work; the full-sync safety net (and its sweep of what no
# longer belongs here) every 10 minutes.
resync_interval = 600

[AGENT]
report_interval = 5
check_child_processes_interval = 5

[ovs]
integration_bridge = {self.int_bridge}
external_bridge = {self.ex_bridge}
datapath_type = {self.datapath}
"""
        server = f"""\
[DEFAULT]
bind_host = 127.0.0.1
bind_port = {self.port}
api_workers = 1
enable_rpc = true
agent_down_time = 20
log_file = {self.log_file('netnode-server')}

[database]
connection = sqlite:///{os.path.join(self.state_dir, 'netnode.sqlite')}
"""

        def agent_ini(service):
            return f'[DEFAULT]\nlog_file = {self.log_file(service)}\n'

        return {
            self.common_conf: common,
            self.conf('server.conf'): server,
            self.conf('dhcp_agent.ini'): agent_ini('netnode-dhcp-agent'),
            self.conf('l3_agent.ini'): agent_ini('netnode-l3-agent'),
            self.conf('metadata_agent.ini'): agent_ini('netnode-metadata-agent'),
        }
