"""``netnode-metadata-agent``: answers instance metadata on the proxies' unix socket.

    netnode-metadata-agent --config-file /etc/netnode/netnode.conf \
                           --config-file /etc/netnode/metadata_agent.ini

Serves ``metadata_proxy_socket`` (default ``$state_path/metadata_proxy``), which
the haproxy proxies of the DHCP and L3 agents forward to.  SIGTERM/SIGINT stop
it and remove the socket (the proxies then answer 503 until it is back); SIGHUP
re-reads the mutable options and empties the lookup cache.  A second agent on
the same socket refuses to start (its socket, not a state_path lock, decides).
"""

from __future__ import annotations

from agent.cmd import lean_imports  # noqa: F401  (first: before kombu is imported)
from agent.cmd import run


def main(argv=None) -> None:
    run.main(run.METADATA_AGENT, argv)


if __name__ == '__main__':
    main()
