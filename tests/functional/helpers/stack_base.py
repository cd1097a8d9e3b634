"""A controller (``netnode-server``) on a private RabbitMQ vhost, for the stacks
of the functional tests and benchmarks that add an agent to it (DHCP, L3,
metadata).

Everything a stack makes is named from the run id and removed by
:meth:`ControllerStack.close`: the vhost (with its exchange and queues), the
bridges it was given, the base directory (state path, configs, logs; every
process started for the stack carries it in its command line) and the namespaces
registered with :meth:`ControllerStack.ns`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from tests.functional.controller_api.server_process import ServerProcess
from tests.functional.helpers import bus, host

BIN = os.path.dirname(sys.executable)


class ControllerStack:
    SERVER_DEBUG = True          # the controller's debug logging
    RPC_TIMEOUT = 10             # the controller's rpc_response_timeout

    def __init__(self, run_id: str, leaks, prefix: str, vhost: str, exchange: str,
                 host_name: str, bridges=(), server_conf: str = ''):
        self.run_id = run_id
        self.leaks = leaks
        self.base = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.base, 0o755)      # dnsmasq re-reads its files as nobody
        self.state_path = os.path.join(self.base, 'agent-state')
        self.host = host_name
        self.vhost = vhost
        self.exchange = exchange
        self.url = bus.vhost_url(vhost)
        self.bridges = tuple(bridges)
        self.extra_server_conf = server_conf
        self.server: ServerProcess | None = None
        self.namespaces: set[str] = set()
        if leaks is not None:
            for bridge in self.bridges:
                leaks.bridge(bridge)
            leaks.process_marker(self.base)

    # -- setup ----------------------------------------------------------------------

    def start_controller(self):
        """The vhost, the bridges and a started controller on that vhost."""
        bus.add_vhost(self.vhost)
        for bridge in self.bridges:
            host.add_bridge(bridge)
        self.server = ServerProcess(
            os.path.join(self.base, 'server'), debug=self.SERVER_DEBUG,
            extra_conf='\n'.join(['enable_rpc = true', f'transport_url = {self.url}',
                                  f'control_exchange = {self.exchange}',
                                  f'rpc_response_timeout = {self.RPC_TIMEOUT}',
                                  self.extra_server_conf]))
        os.makedirs(self.server.base_dir, exist_ok=True)
        if self.leaks is not None:
            self.leaks.process_marker(self.server.marker)
        self.server.start()

    def ns(self, name):
        """Register a namespace of ours: removed by close(), checked for leaks."""
        self.namespaces.add(name)
        if self.leaks is not None:
            self.leaks.namespace(name)
        return name

    # -- REST -----------------------------------------------------------------------

    def api(self, method, path, body=None):
        status, data = self.server.call(method, '/v2.0' + path, body)
        if status >= 300:
            raise AssertionError(f'{method} {path}: {status} {data}')
        return data

    # -- teardown -------------------------------------------------------------------

    def stop_agent(self):
        """Stop the stack's agent (a subclass's); close() calls it first."""

    def release(self):
        """What a subclass holds besides the namespaces, bridges, vhost and base dir
        (close() calls it after the processes are gone)."""

    def close(self):
        with contextlib.suppress(Exception):
            self.stop_agent()
        if self.server is not None:
            with contextlib.suppress(Exception):
                self.server.stop()
        host.kill_marked(self.base)
        host.delete_namespaces(self.namespaces)
        self.release()
        for bridge in self.bridges:
            with contextlib.suppress(Exception):
                host.delete_bridge(bridge)
        with contextlib.suppress(Exception):
            bus.delete_vhost(self.vhost, check=False)
        shutil.rmtree(self.base, ignore_errors=True)


class AgentStack(ControllerStack):
    """A controller plus one agent process (``AGENT_BIN``) that logs 'in sync' when
    it has converged; write_agent_conf() writes its config with the options of
    :meth:`agent_options` (the subclass's own)."""

    AGENT_BIN = ''
    AGENT_LABEL = 'agent'           # in messages: 'L3 agent exited with ...'
    AGENT_FILES = 'agent'           # <base>/<files>_agent.ini, <base>/<files>-agent.log
    START_TIMEOUT = 30.0
    STOP_TIMEOUT = 20.0
    # What the agent's command line starts with (e.g. setpriv with a unit's
    # capability bound) and the umask it starts with (None: ours).
    AGENT_PREFIX: tuple[str, ...] = ()
    AGENT_UMASK: int | None = None

    def __init__(self, *args, agent_conf: str = '', report_interval: float = 2,
                 resync_interval: int = 3, **kwargs):
        super().__init__(*args, **kwargs)
        self.agent_conf_path = os.path.join(self.base, f'{self.AGENT_FILES}_agent.ini')
        self.agent_log = os.path.join(self.base, f'{self.AGENT_FILES}-agent.log')
        self.extra_agent_conf = agent_conf
        self.report_interval = report_interval
        self.resync_interval = resync_interval
        self.agent: subprocess.Popen | None = None
        self._log_mark = 0
        # files the agent reads before the stack's own (an operator's Neutron ini files)
        self.config_files: tuple[str, ...] = ()
        # added to the agent's environment (NOTIFY_SOCKET, WATCHDOG_USEC: systemd's)
        self.agent_env: dict[str, str] = {}

    def agent_options(self):
        """(lines for [DEFAULT], for [AGENT], for [ovs]) of this kind of agent."""
        return (), (), ()

    def write_agent_conf(self):
        default, agent, ovs = self.agent_options()
        with open(self.agent_conf_path, 'w') as f:
            f.write('\n'.join([
                '[DEFAULT]', f'host = {self.host}', f'state_path = {self.state_path}',
                f'transport_url = {self.url}', f'control_exchange = {self.exchange}',
                f'rpc_response_timeout = {self.RPC_TIMEOUT}', 'debug = true',
                f'log_file = {self.agent_log}', *default,
                f'resync_interval = {self.resync_interval}', 'resync_throttle = 0.5',
                self.extra_agent_conf,
                '[AGENT]', f'report_interval = {self.report_interval}',
                'check_child_processes_interval = 1', *agent,
                '[ovs]', *ovs, 'datapath_type = netdev', '']))

    def start_agent(self, wait=True, timeout=None):
        self._log_mark = os.path.getsize(self.agent_log) if os.path.exists(
            self.agent_log) else 0
        files = [a for path in self.config_files for a in ('--config-file', path)]
        self.agent = subprocess.Popen(
            [*self.AGENT_PREFIX, self.AGENT_BIN, *files, '--config-file',
             self.agent_conf_path],
            stdout=subprocess.DEVNULL, stderr=open(self.agent_log + '.stderr', 'ab'),
            env={**os.environ, **self.agent_env}, umask=-1 if self.AGENT_UMASK is None else self.AGENT_UMASK)
        if wait:
            host.wait_for(self._agent_in_sync,
                          self.START_TIMEOUT if timeout is None else timeout, 0.05,
                          f'the {self.AGENT_LABEL} in sync')
        return self.agent

    def agent_log_text(self, since_start=True):
        try:
            with open(self.agent_log, errors='replace') as f:
                if since_start:
                    f.seek(self._log_mark)
                return f.read()
        except FileNotFoundError:
            return ''

    def _agent_in_sync(self):
        if self.agent.poll() is not None:
            raise AssertionError(f'{self.AGENT_LABEL} exited with {self.agent.returncode}: '
                                 f'{self.agent_log_text()[-3000:]}')
        return 'in sync' in self.agent_log_text()

    def stop_agent(self, sig=signal.SIGTERM, timeout=None):
        if self.agent is None or self.agent.poll() is not None:
            return None
        self.agent.send_signal(sig)
        try:
            return self.agent.wait(self.STOP_TIMEOUT if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.agent.kill()
            return self.agent.wait()
