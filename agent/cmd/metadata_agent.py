"""``netnode-metadata-agent``: answers instance metadata on the proxies' unix socket.

    netnode-metadata-agent --config-file /etc/netnode/netnode.conf \
                           --config-file /etc/netnode/metadata_agent.ini

Serves ``metadata_proxy_socket`` (default ``$state_path/metadata_proxy``), which
the haproxy proxies of the DHCP and L3 agents forward to.  SIGTERM/SIGINT stop
it and remove the socket (the proxies then answer 503 until it is back); SIGHUP
re-reads the mutable options and empties the lookup cache.  A second agent on
the same socket refuses to start.
"""

from __future__ import annotations


import logging
import signal
import sys
import threading

from agent.conf import service

LOG = logging.getLogger(__name__)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    conf = service.make_conf(argv, groups=service.METADATA_AGENT_GROUPS)
    service.setup_logging(conf, 'netnode-metadata-agent')
    from agent.metadata.agent import MetadataAgent
    try:
        md = MetadataAgent(conf)
        md.start()
    except Exception as exc:  # noqa: BLE001 - say why, exit non-zero
        LOG.exception('cannot start the metadata agent')
        print(f'netnode-metadata-agent: cannot start: {exc}', file=sys.stderr)
        return 1
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGHUP, lambda *_: threading.Thread(
        target=md.reload, name='sighup-reload', daemon=True).start())
    LOG.info('metadata agent serving %s as host %s', conf.metadata_proxy_socket,
             conf.host)
    while not done.wait(1.0):
        pass
    md.stop()
    LOG.info('metadata agent stopped')
    return 0


if __name__ == '__main__':
    sys.exit(main())
