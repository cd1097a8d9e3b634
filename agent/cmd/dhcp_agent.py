"""``netnode-dhcp-agent``: the DHCP agent process.

    netnode-dhcp-agent --config-file /etc/netnode/netnode.conf \
                       --config-file /etc/netnode/dhcp_agent.ini

SIGTERM/SIGINT stop the agent and leave dnsmasq and the metadata proxies
serving (they are adopted by the next start); SIGHUP re-reads the mutable
options and resyncs.  A lock file ``<state_path>/netnode-dhcp-agent.lock``
keeps a second agent with the same state_path from running.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from agent.common import service_lock
from agent.conf import service

LOG = logging.getLogger(__name__)

def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    conf = service.make_conf(argv, groups=service.DHCP_AGENT_GROUPS)
    # pyroute2 resets its logger's level when imported: import it before logging
    # is set up, so pyroute2=WARNING holds.  OVSDB transaction and asyncio loop
    # chatter (one line per txn and per netlink socket) stays out of --debug logs,
    # as in the L3 agent: the agent logs each change as a command itself.
    import agent.drivers.link  # noqa: F401
    conf.set_default('default_log_levels',
                     list(conf.default_log_levels) + ['pyroute2=WARNING', 'ovsdbapp=INFO',
                                                      'ovs=INFO', 'asyncio=INFO'])
    service.setup_logging(conf, 'netnode-dhcp-agent')
    try:
        lock = service_lock.acquire(conf.state_path, 'netnode-dhcp-agent')
    except (service_lock.AlreadyRunning, OSError) as exc:
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
