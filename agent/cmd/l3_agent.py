"""``netnode-l3-agent``: routers, gateways, SNAT and floating IPs on this node.

Start-up: parse options, set up logging, take the state_path lock (two L3
agents on one state_path would fight over the same namespaces and children),
start the agent.  SIGTERM/SIGINT stop it gracefully: the bus, the queue and
the threads stop; the data plane and the metadata proxies keep serving and
are adopted by the next start.  SIGHUP re-reads the mutable options (log
level) and resyncs in full.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from oslo_log import log
from agent.common import service_lock
from agent.conf.service import L3_AGENT_GROUPS, make_conf, setup_logging

LOG = logging.getLogger(__name__)

# Per-message netlink/OVSDB chatter drowns the plans in --debug logs.
QUIET_LOGGERS = ['pyroute2=WARN', 'ovsdbapp=INFO', 'ovs=INFO']


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    log.set_defaults(default_log_levels=log.get_default_log_levels() + QUIET_LOGGERS)
    conf = make_conf(argv, groups=L3_AGENT_GROUPS)
    setup_logging(conf, 'netnode-l3-agent')
    try:
        service_lock.acquire(conf.state_path, 'netnode-l3-agent')
    except (service_lock.AlreadyRunning, OSError) as exc:
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
    signal.signal(signal.SIGHUP, lambda *_: threading.Thread(
        target=l3.reload, name='sighup-reload', daemon=True).start())
    try:
        while not stop.wait(1.0):
            pass
    finally:
        l3.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
