"""``netnode-l3-agent``: routers, gateways, SNAT and floating IPs on this node.

Start-up: parse options, set up logging, take the state_path lock (two L3
agents on one state_path would fight over the same namespaces and children;
the second exits with status 2), start the agent.  SIGTERM/SIGINT stop it
gracefully: the bus, the queue and the threads stop; the data plane and the
metadata proxies keep serving and are adopted by the next start.  SIGHUP
re-reads the mutable options (log level) and resyncs in full.
"""

from __future__ import annotations

from agent.cmd import lean_imports  # noqa: F401  (first: before kombu is imported)
from agent.cmd import run


def main(argv=None) -> None:
    run.main(run.L3_AGENT, argv)


if __name__ == '__main__':
    main()
