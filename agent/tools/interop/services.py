"""The run's footing and processes: Neutron's virtualenv (cached), a private MariaDB,
the vhost, the bridges, and every program started in a session of its own with its
output in the run's log directory.  What is made is written to the run's record
before it exists, so that cleanup.py removes exactly that, even after a crash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

from agent.common import fileutils, procfs
from agent.tools.aio import host
from agent.tools.interop import config
from agent.tools.interop.settings import CACHE_DIR, CONSTRAINTS, NEUTRON_VERSION, Settings

PIP_PACKAGES = (f'neutron=={NEUTRON_VERSION}', 'python-openstackclient', 'PyMySQL', 'uWSGI')


# -- Neutron's virtualenv -------------------------------------------------------------------

def _constraints_digest() -> str:
    with open(CONSTRAINTS, 'rb') as f:
        return hashlib.sha1(f.read() + ' '.join(PIP_PACKAGES).encode()).hexdigest()


def ensure_venv(s: Settings) -> str:
    """Neutron in ``<cache>/neutron-<version>``, installed with the repository's
    constraints; reused while the constraints file is unchanged."""
    stamp = os.path.join(s.venv, '.netnode-constraints-sha1')
    digest = _constraints_digest()
    if fileutils.read_text(stamp, '').strip() == digest and os.access(
            s.venv_bin('neutron-rpc-server'), os.X_OK):
        return f'{s.venv} (cached)'
    fileutils.ensure_dir(CACHE_DIR)
    shutil.rmtree(s.venv, ignore_errors=True)
    host.sh(sys.executable, '-m', 'venv', s.venv, check=True)
    host.sh(s.venv_bin('pip'), 'install', '-q', '-c', CONSTRAINTS, *PIP_PACKAGES,
            check=True, timeout=1800)
    fileutils.write_atomic(stamp, digest + '\n')
    return f'{s.venv} (installed)'


# -- processes ----------------------------------------------------------------------------

def start(s: Settings, record: host.Record, name: str, argv: list[str],
          env: dict | None = None) -> int:
    """``argv`` in a new session; output to ``<log>/<name>.out``; the pid recorded."""
    fileutils.ensure_dir(s.log_dir)
    out = open(os.path.join(s.log_dir, f'{name}.out'), 'ab')
    try:
        proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, cwd=s.run_dir,
                                env=dict(os.environ, **(env or {})))
    finally:
        out.close()
    host.CONSOLE.log(f'started {name}: {" ".join(str(a) for a in argv)}: pid {proc.pid}')
    pids = dict(record.get('pids', {}))
    pids[name] = proc.pid
    record.set('pids', pids)
    return proc.pid


def pid_of(record: host.Record, name: str) -> int | None:
    pid = record.get('pids', {}).get(name)
    return pid if pid and procfs.alive(pid) else None


def stop(record: host.Record, names, grace: float = 20.0) -> dict[str, int]:
    """SIGTERM the named programs, SIGKILL after ``grace``; {name: pid} stopped."""
    pids = {n: pid_of(record, n) for n in names}
    pids = {n: p for n, p in pids.items() if p}
    for pid in procfs.terminate(pids.values(), grace):
        host.CONSOLE.log(f'pid {pid} ignored SIGTERM for {grace} s: SIGKILL')
    for pid in pids.values():
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    return pids


def exited(s: Settings, record: host.Record, name: str) -> str | None:
    if pid_of(record, name):
        return None
    text = fileutils.read_text(os.path.join(s.log_dir, f'{name}.out'), '') or ''
    return f'{name} exited; the end of its output:\n' + '\n'.join(text.splitlines()[-20:])


# -- footing ------------------------------------------------------------------------------

def write_configs(s: Settings, of_port: int) -> None:
    for path in (s.run_dir, s.etc, s.log_dir, s.path('lock'), s.state_path('netnode'),
                 s.state_path('neutron')):
        fileutils.ensure_dir(path)
    # dnsmasq drops to nobody and re-reads its files: the paths must be traversable.
    for path in (s.run_dir, s.state_path('netnode'), s.state_path('neutron')):
        os.chmod(path, 0o755)
    for path, content in config.files(s, of_port).items():
        fileutils.write_atomic(path, content)


def add_vhost(s: Settings, record: host.Record) -> None:
    record.set('vhost', s.vhost)
    host.sh('rabbitmqctl', '-q', 'add_vhost', s.vhost, check=True)
    host.sh('rabbitmqctl', '-q', 'set_permissions', '-p', s.vhost, 'guest', '.*', '.*', '.*',
            check=True)


def add_external_bridge(s: Settings, record: host.Record) -> None:
    """The OVS agent refuses to start without the bridge of its mapping; br-int and
    br-tun it makes itself (recorded here all the same, for the cleanup)."""
    for bridge in (s.int_bridge, s.tun_bridge, s.ex_bridge):
        record.add('bridges', bridge)
    host.ovs('--may-exist', 'add-br', s.ex_bridge, '--', 'set', 'Bridge', s.ex_bridge,
             'datapath_type=netdev', f'external_ids:{host.BRIDGE_MARK}="{s.run_dir}"',
             check=True)
    host.sh('ip', 'link', 'set', s.ex_bridge, 'up')


def start_mariadb(s: Settings, record: host.Record) -> str:
    """A private mariadbd: its own datadir and socket, no TCP port (the machine's
    MariaDB, if any, is not touched)."""
    fileutils.ensure_dir(s.mysql_dir)
    shutil.chown(s.mysql_dir, 'mysql', 'mysql')
    host.sh('mariadb-install-db', '--no-defaults', f'--datadir={s.mysql_dir}', '--user=mysql',
            '--auth-root-authentication-method=normal', '--skip-test-db', check=True,
            timeout=180)
    start(s, record, 'mariadbd', [
        '/usr/sbin/mariadbd', '--no-defaults', f'--datadir={s.mysql_dir}', '--user=mysql',
        f'--socket={s.mysql_socket}', '--skip-networking',
        f"--pid-file={s.mysql_dir}/mysqld.pid", f'--log-error={s.mysql_dir}/error.log',
        '--innodb-buffer-pool-size=32M', '--innodb-flush-log-at-trx-commit=0',
        '--skip-log-bin', '--performance-schema=off'])

    def ready():
        problem = exited(s, record, 'mariadbd')
        if problem:
            raise host.StepFailed(problem + '\n' + (fileutils.read_text(
                f'{s.mysql_dir}/error.log', '') or '')[-1500:])
        return host.sh('mariadb', f'--socket={s.mysql_socket}', '-uroot', '-e',
                       'CREATE DATABASE IF NOT EXISTS neutron CHARACTER SET utf8mb4',
                       log=False).returncode == 0
    host.wait_for(ready, 90, 0.3, 'MariaDB on its socket')
    return s.mysql_socket


def migrate(s: Settings) -> None:
    host.sh(s.venv_bin('neutron-db-manage'), '--config-file', f'{s.etc}/neutron.conf',
            '--config-file', f'{s.etc}/ml2_conf.ini', 'upgrade', 'head', check=True,
            timeout=600)


# -- Neutron's server side ----------------------------------------------------------------

def neutron_args(s: Settings, *extra: str) -> list[str]:
    argv = ['--config-file', f'{s.etc}/neutron.conf', '--config-file', f'{s.etc}/ml2_conf.ini']
    for name in extra:
        argv += ['--config-file', f'{s.etc}/{name}']
    return argv


def start_server(s: Settings, record: host.Record) -> None:
    """The API under uwsgi (one process, one thread), the RPC server and the
    periodic workers."""
    start(s, record, 'neutron-api', [
        s.venv_bin('uwsgi'), '--http-socket', f'127.0.0.1:{s.api_port}',
        '--module', 'neutron.wsgi.api:application', '--virtualenv', s.venv,
        '--processes', '1', '--threads', '1', '--master', '--die-on-term', '--need-app',
        '--enable-threads', '--buffer-size', '65535',
        # No keep-alive on an http-socket: say so, or a client reuses the connection
        # and its next POST meets a reset.
        '--add-header', 'Connection: close', '--procname-prefix',
        f'interop-{s.run_id}-', '--pidfile', s.path('uwsgi.pid')],
        env={'OS_NEUTRON_CONFIG_DIR': s.etc,
             'OS_NEUTRON_CONFIG_FILES': ';'.join(config.NEUTRON_FILES)})
    for program in ('neutron-rpc-server', 'neutron-periodic-workers'):
        start(s, record, program, [s.venv_bin(program), *neutron_args(s),
                                   '--log-file', f'{s.log_dir}/{program}.log'])


def wait_api(s: Settings, record: host.Record, timeout: float = 180) -> None:
    def answers():
        problem = exited(s, record, 'neutron-api')
        if problem:
            raise host.StepFailed(problem)
        try:
            with urllib.request.urlopen(f'{s.api_url}/v2.0/networks', timeout=5) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False
    host.wait_for(answers, timeout, 0.5, f'the Neutron API on {s.api_url}')


# Neutron 29's OVS agent, with the ports it skips for want of an ofport retried (its
# own race, see the module): run by Neutron's Python, it imports Neutron only.
OVS_AGENT_RETRY = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               'ovs_agent_retry.py')


def start_ovs_agent(s: Settings, record: host.Record) -> None:
    record.set('manager', s.manager_target)
    start(s, record, 'neutron-openvswitch-agent', [
        s.venv_bin('python3'), OVS_AGENT_RETRY, *neutron_args(s, 'openvswitch_agent.ini'),
        '--log-file', f'{s.log_dir}/neutron-openvswitch-agent.log'])


# -- the agents under test ----------------------------------------------------------------

NETNODE_AGENTS = ('netnode-dhcp-agent', 'netnode-l3-agent', 'netnode-metadata-agent')
NEUTRON_AGENTS = ('neutron-dhcp-agent', 'neutron-l3-agent', 'neutron-metadata-agent')


def start_agent(s: Settings, record: host.Record, name: str) -> int:
    if name.startswith('netnode-'):
        argv = [os.path.join(os.path.dirname(sys.executable), name), '--config-file',
                f'{s.etc}/netnode.conf', '--config-file', f'{s.etc}/{name}.ini',
                '--log-file', f'{s.log_dir}/{name}.log']
    else:
        argv = [s.venv_bin(name), *neutron_args(s, 'neutron_agents.ini', f'{name}.ini'),
                '--log-file', f'{s.log_dir}/{name}.log']
    return start(s, record, name, argv)
