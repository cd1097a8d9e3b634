"""``netnode-dhcp-agent``: the DHCP agent process.

    netnode-dhcp-agent --config-file /etc/netnode/netnode.conf \
                       --config-file /etc/netnode/dhcp_agent.ini

SIGTERM/SIGINT stop the agent and leave dnsmasq and the metadata proxies
serving (they are adopted by the next start); SIGHUP re-reads the mutable
options and resyncs.  A lock file ``<state_path>/netnode-dhcp-agent.lock``
keeps a second agent with the same state_path from running.
"""

from __future__ import annotations

import agent.rpc  # noqa: F401  (first: silences oslo's eventlet warning)

import errno
import fcntl
import logging
import os
import signal
import sys
import threading

from agent.common import fileutils
from agent.conf import service

LOG = logging.getLogger(__name__)
LOCK_NAME = 'netnode-dhcp-agent.lock'


class AlreadyRunning(RuntimeError):
    pass


def acquire_lock(state_path: str) -> int:
    """Hold an exclusive lock on ``<state_path>/netnode-dhcp-agent.lock`` (returns the fd)."""
    fileutils.ensure_dir(state_path)
    path = os.path.join(state_path, LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
            holder = fileutils.read_text(path, '').strip() or 'another process'
            raise AlreadyRunning(f'state_path {state_path}: a DHCP agent (pid {holder}) '
                                 f'already runs with it ({path} is locked)') from None
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f'{os.getpid()}\n'.encode())
    return fd


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    conf = service.make_conf(argv, groups=service.DHCP_AGENT_GROUPS)
    # pyroute2 resets its logger's level when imported: import it before logging
    # is set up, so pyroute2=WARNING holds.
    import agent.drivers.link  # noqa: F401
    conf.set_default('default_log_levels',
                     list(conf.default_log_levels) + ['pyroute2=WARNING'])
    service.setup_logging(conf, 'netnode-dhcp-agent')
    try:
        lock = acquire_lock(conf.state_path)
    except (AlreadyRunning, OSError) as exc:
        LOG.error('%s', exc)
        print(f'netnode-dhcp-agent: {exc}', file=sys.stderr)
        return 1
    from agent.dhcp.agent import DhcpAgent
    try:
        dhcp = DhcpAgent(conf)
    except Exception as exc:  # noqa: BLE001 - say why, exit non-zero
        LOG.exception('cannot start the DHCP agent')
        print(f'netnode-dhcp-agent: cannot start: {exc}', file=sys.stderr)
        return 1
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGHUP, lambda *_: threading.Thread(
        target=dhcp.reload, name='sighup-reload', daemon=True).start())
    LOG.info('DHCP agent starting as host %s, state_path %s', conf.host, conf.state_path)
    dhcp.start()
    while not done.wait(1.0):
        pass
    dhcp.stop()
    os.close(lock)
    LOG.info('DHCP agent stopped')
    return 0


if __name__ == '__main__':
    sys.exit(main())
