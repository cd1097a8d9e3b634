"""The instance's footing (directories, config files, vhost, bridges) and its four
services: started in the background in a session of their own, pid files in
``<state_dir>/run``, output in the log directory; reused when already running
with the same configuration, restarted when it changed.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request

from agent.common import fileutils, procfs
from agent.tools.aio import host
from agent.tools.aio.settings import AGENT_BINARIES, SERVICES, Settings

BIN_DIR = os.path.dirname(sys.executable)
CONFIG_MODE = 0o640
STATE_DIR_MODE = 0o711


def prepare_dirs(s: Settings) -> None:
    for path in (s.state_dir, s.etc_dir, s.log_dir, s.run_dir):
        fileutils.ensure_dir(path)
    # dnsmasq drops to nobody and re-reads its files, haproxy connects to the
    # metadata socket as netnode-haproxy: the path must be searchable by them, but
    # nobody else needs to list it (the database is in it).
    os.chmod(s.state_dir, STATE_DIR_MODE)


def write_configs(s: Settings) -> list[str]:
    """Write the config files whose content differs; the paths written.  They are
    CONFIG_MODE: netnode.conf holds the RabbitMQ password."""
    changed = []
    for path, content in s.config_files().items():
        if fileutils.read_text(path) != content:
            fileutils.write_atomic(path, content, mode=CONFIG_MODE)
            changed.append(path)
        elif os.stat(path).st_mode & 0o777 != CONFIG_MODE:
            os.chmod(path, CONFIG_MODE)        # written by an older version
    return changed


def ensure_vhost(s: Settings, record: host.Record) -> str:
    vhosts = host.sh('rabbitmqctl', '-q', 'list_vhosts', check=True).stdout.split()
    if s.vhost in vhosts:
        return f'{s.vhost} (exists)'
    host.sh('rabbitmqctl', '-q', 'add_vhost', s.vhost, check=True)
    record.set('vhost', s.vhost)
    host.sh('rabbitmqctl', '-q', 'set_permissions', '-p', s.vhost, 'guest', '.*', '.*',
            '.*', check=True)
    return f'{s.vhost} (created)'


def ensure_bridges(s: Settings, record: host.Record) -> None:
    present = host.bridges()
    for bridge in (s.int_bridge, s.ex_bridge):
        if bridge not in present:
            host.ovs('--may-exist', 'add-br', bridge, '--', 'set', 'Bridge', bridge,
                     f'datapath_type={s.datapath}',
                     f'external_ids:{host.BRIDGE_MARK}="{s.state_dir}"', check=True)
            record.add('bridges', bridge)
        host.sh('ip', 'link', 'set', bridge, 'up')


# -- processes ----------------------------------------------------------------------------

def _own_conf(s: Settings, service: str) -> str:
    return s.service_confs(service)[-1]


def find(s: Settings, service: str) -> int | None:
    """The pid of the instance's ``service``: from the pid file, else by command line."""
    own = _own_conf(s, service)
    text = fileutils.read_text(s.pid_file(service), '').strip()
    if text.isdigit() and procfs.alive(int(text)) and own in procfs.cmdline(int(text)):
        return int(text)
    found = sorted(pid for pid, cmd in procfs.pids_with([own]).items()
                   if service in cmd and procfs.alive(pid))
    return found[0] if found else None


def _fingerprint(s: Settings, service: str) -> str:
    parts = [os.path.join(BIN_DIR, service)]
    parts += [fileutils.read_text(p, '') for p in s.service_confs(service)]
    return hashlib.sha1(json.dumps(parts).encode()).hexdigest()


def _fingerprint_file(s: Settings, service: str) -> str:
    return os.path.join(s.run_dir, f'{service}.config-sha1')


def start(s: Settings, service: str) -> int:
    argv = [os.path.join(BIN_DIR, service)]
    for path in s.service_confs(service):
        argv += ['--config-file', path]
    out = open(os.path.join(s.log_dir, f'{service}.out'), 'ab')
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True, cwd='/')
    finally:
        out.close()
    host.CONSOLE.log(f'started {" ".join(argv)}: pid {proc.pid}')
    fileutils.write_atomic(s.pid_file(service), f'{proc.pid}\n')
    fileutils.write_atomic(_fingerprint_file(s, service), _fingerprint(s, service) + '\n')
    return proc.pid


def stop(s: Settings, service: str, timeout: float = 30.0) -> int | None:
    """SIGTERM (the agents leave their children serving), SIGKILL after ``timeout``."""
    return stop_many(s, [service], timeout).get(service)


def stop_many(s: Settings, names, timeout: float = 30.0) -> dict[str, int]:
    """Stop services in parallel: {service: pid} of those that were running."""
    pids = {service: find(s, service) for service in names}
    pids = {service: pid for service, pid in pids.items() if pid is not None}
    by_pid = {pid: service for service, pid in pids.items()}
    for pid in procfs.terminate(by_pid, timeout):
        host.CONSOLE.log(f'{by_pid[pid]} (pid {pid}) ignored SIGTERM for {timeout} s: '
                         'SIGKILL')
    for service in names:
        for path in (s.pid_file(service), _fingerprint_file(s, service)):
            fileutils.remove(path)
    return pids


def ensure(s: Settings, service: str) -> str:
    """Start ``service``, or reuse it, or restart it when its configuration changed."""
    pid = find(s, service)
    if pid is not None:
        if fileutils.read_text(_fingerprint_file(s, service), '').strip() == \
                _fingerprint(s, service):
            fileutils.write_atomic(s.pid_file(service), f'{pid}\n')
            return f'reused, pid {pid}'
        stop(s, service)
        return f'restarted (configuration changed), pid {start(s, service)}'
    if service == 'netnode-server' and _port_busy(s.port):
        raise host.StepFailed(f'127.0.0.1:{s.port} is in use by another program: set '
                              'NETNODE_AIO_PORT to a free port')
    return f'started, pid {start(s, service)}'


def _port_busy(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(('127.0.0.1', port))
        except OSError:
            return True
    return False


def tail(path: str, lines: int = 15) -> str:
    text = fileutils.read_text(path, '') or ''
    return '\n'.join(text.splitlines()[-lines:])


def _exited(s: Settings, service: str) -> str | None:
    if find(s, service) is None:
        return (f'{service} exited; the end of its log:\n'
                + tail(s.log_file(service)) + '\n' +
                tail(os.path.join(s.log_dir, f'{service}.out')))
    return None


def wait_api(s: Settings, timeout: float = 60.0) -> None:
    def answers():
        problem = _exited(s, 'netnode-server')
        if problem:
            raise host.StepFailed(problem)
        try:
            with urllib.request.urlopen(s.url + '/', timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False
    host.wait_for(answers, timeout, 0.1, f'the REST API on {s.url}')


AGENT_TYPES = {'netnode-dhcp-agent': 'DHCP agent', 'netnode-l3-agent': 'L3 agent',
               'netnode-metadata-agent': 'Metadata agent'}


def _parse_time(text: str | None) -> datetime.datetime | None:
    for fmt in ('%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M:%SZ', '%Y-%m-%dT%H:%M:%S'):
        try:
            return datetime.datetime.strptime(text or '', fmt)
        except ValueError:
            continue
    return None


def utcnow() -> datetime.datetime:
    """Now in UTC, naive, to the second (as the agents table keeps times)."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=0)


def wait_agents(s: Settings, client, started=(), since=None,
                timeout: float = 90.0) -> list[dict]:
    """Until the three agents of this host are alive in the agents table; those in
    ``started`` (services just (re)started) with a start reported at or after
    ``since`` (not the heartbeats of the processes they replaced)."""
    fresh = {AGENT_TYPES[svc] for svc in started if svc in AGENT_TYPES}

    def all_alive():
        for service in AGENT_BINARIES:
            problem = _exited(s, service)
            if problem:
                raise host.StepFailed(problem)
        agents = []
        for a in client.list('agents', host=s.host):
            if a.get('agent_type') not in AGENT_TYPES.values() or not a.get('alive'):
                continue
            began = _parse_time(a.get('started_at'))
            if a['agent_type'] in fresh and since and (began is None or began < since):
                continue
            agents.append(a)
        wanted = set(AGENT_TYPES.values())
        return agents if {a['agent_type'] for a in agents} == wanted else None
    return host.wait_for(all_alive, timeout, 0.25, 'the DHCP, L3 and metadata agents '
                                                   'alive in agent-list')


def stop_all(s: Settings) -> list[str]:
    """All four in parallel (each stops on its own; children and the data plane
    stay).  What was stopped, as 'service (pid)'."""
    stopped = stop_many(s, SERVICES)
    return [f'{service} ({pid})' for service, pid in stopped.items()]


def status(s: Settings) -> dict[str, int | None]:
    return {service: find(s, service) for service in SERVICES}
