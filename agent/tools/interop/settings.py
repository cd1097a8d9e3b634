"""Names and configuration files of one interop run (tools/neutron-interop.sh).

Every name on the host comes from the run id, so the job shares nothing with
another run or another engineer: directories, bridges (<= 15 characters), the
RabbitMQ vhost, the OVS manager port, the API port, MariaDB's socket and datadir,
the namespaces of the 'outside' and of the VMs.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket

RUN_ROOT = '/var/lib/netnode-interop'
CACHE_DIR = '/var/cache/netnode-interop'
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
CONSTRAINTS = os.path.join(TOP, 'tools', 'neutron-interop', 'constraints.txt')
NEUTRON_VERSION = '29.0.0'
SHARED_SECRET = 'interop-secret'            # a test value, for this run's Nova stand-in only
RESYNC_INTERVAL = 15                        # the job's periodic full sync (s)
_RUN_ID = re.compile(r'^[0-9a-f]{6}$')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@dataclasses.dataclass(frozen=True)
class Settings:
    run_id: str
    api_port: int
    ovsdb_port: int
    nova_port: int
    host: str

    @classmethod
    def new(cls, run_id: str) -> Settings:
        if not _RUN_ID.match(run_id):
            raise ValueError(f'run id {run_id!r}: six hex digits')
        return cls(run_id, free_port(), free_port(), free_port(),
                   f'interop-{run_id}')

    @classmethod
    def from_dict(cls, data: dict) -> Settings:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    # -- places --------------------------------------------------------------------------

    @property
    def run_dir(self) -> str:
        return f'{RUN_ROOT}-{self.run_id}'

    def path(self, *parts: str) -> str:
        return os.path.join(self.run_dir, *parts)

    @property
    def etc(self) -> str:
        return self.path('etc')

    @property
    def log_dir(self) -> str:
        return self.path('log')

    @property
    def record_file(self) -> str:
        return self.path('record.json')

    @property
    def venv(self) -> str:
        return os.path.join(CACHE_DIR, f'neutron-{NEUTRON_VERSION}')

    def venv_bin(self, program: str) -> str:
        return os.path.join(self.venv, 'bin', program)

    @property
    def mysql_dir(self) -> str:
        return self.path('mysql')

    @property
    def mysql_socket(self) -> str:
        return self.path('mysql', 'mysqld.sock')

    def state_path(self, who: str) -> str:
        """Our agents' (``netnode``) or Neutron's own agents' (``neutron``) state path."""
        return self.path(f'state-{who}')

    # -- names on the host ---------------------------------------------------------------

    def bridge(self, role: str) -> str:
        return f'bi{self.run_id}{role}'          # i, t, e: integration, tunnel, external

    @property
    def int_bridge(self) -> str:
        return self.bridge('i')

    @property
    def tun_bridge(self) -> str:
        return self.bridge('t')

    @property
    def ex_bridge(self) -> str:
        return self.bridge('e')

    @property
    def vhost(self) -> str:
        return f'netnode-interop-{self.run_id}'

    @property
    def transport_url(self) -> str:
        return f'rabbit://guest:guest@127.0.0.1:5672/{self.vhost}'

    @property
    def manager_target(self) -> str:
        return f'ptcp:{self.ovsdb_port}:127.0.0.1'

    @property
    def api_url(self) -> str:
        return f'http://127.0.0.1:{self.api_port}'

    @property
    def outside_ns(self) -> str:
        return f'interop-{self.run_id}-out'

    def vm_ns(self, name: str) -> str:
        return f'interop-{self.run_id}-{name}'

    @property
    def database_url(self) -> str:
        return f'mysql+pymysql://root@localhost/neutron?unix_socket={self.mysql_socket}'
