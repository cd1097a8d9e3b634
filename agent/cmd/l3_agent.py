"""``netnode-l3-agent``: routers, gateways, SNAT and floating IPs on this node.

Start-up: parse options, set up logging, take the state_path lock (two L3
agents on one state_path would fight over the same namespaces and children),
start the agent.  SIGTERM/SIGINT stop it gracefully: the bus, the queue and
the threads stop; the data plane and the metadata proxies keep serving and
are adopted by the next start.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import sys
import threading

import agent.rpc  # noqa: F401  (first: silences oslo's eventlet warning)
from oslo_log import log
from agent.common import fileutils
from agent.conf.service import L3_AGENT_GROUPS, make_conf, setup_logging

LOG = logging.getLogger(__name__)

LOCK_NAME = 'netnode-l3-agent.lock'
# Per-message netlink/OVSDB chatter drowns the plans in --debug logs.
QUIET_LOGGERS = ['pyroute2=WARN', 'ovsdbapp=INFO', 'ovs=INFO']


class AlreadyRunning(RuntimeError):
    pass


def take_lock(state_path: str):
    """An exclusive flock on ``<state_path>/netnode-l3-agent.lock``, held for life."""
    fileutils.ensure_dir(state_path)
    path = os.path.join(state_path, LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors='replace').strip()
        os.close(fd)
        raise AlreadyRunning(f'another L3 agent (pid {holder or "?"}) holds {path}: '
                             'only one may use a state_path') from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
    return fd


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    log.set_defaults(default_log_levels=log.get_default_log_levels() + QUIET_LOGGERS)
    conf = make_conf(argv, groups=L3_AGENT_GROUPS)
    setup_logging(conf, 'netnode-l3-agent')
    try:
        take_lock(conf.state_path)
    except AlreadyRunning as exc:
        LOG.error('%s', exc)
        print(f'netnode-l3-agent: {exc}', file=sys.stderr)
        return 2
    from agent.l3.agent import L3Agent
    stop = threading.Event()

    def on_signal(signum, _frame):
        LOG.info('caught %s, stopping', signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    l3 = L3Agent(conf).start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        l3.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
