"""``netnode-dhcp-agent``: the DHCP agent process.

    netnode-dhcp-agent --config-file /etc/netnode/netnode.conf \
                       --config-file /etc/netnode/dhcp_agent.ini

SIGTERM/SIGINT stop the agent and leave dnsmasq and the metadata proxies
serving (they are adopted by the next start); SIGHUP re-reads the mutable
options and resyncs.  A lock file ``<state_path>/netnode-dhcp-agent.lock``
keeps a second agent with the same state_path from running (exit status 1).
"""

from __future__ import annotations

from agent.cmd import lean_imports  # noqa: F401  (first: before kombu is imported)
from agent.cmd import run


def main(argv=None) -> None:
    run.main(run.DHCP_AGENT, argv)


if __name__ == '__main__':
    main()
