"""``netnode-ovs-cleanup``: delete our stale ports from Open vSwitch bridges.

    netnode-ovs-cleanup [--bridge BR]... --config-file /etc/netnode/netnode.conf ...

Removes our ports from each ``--bridge`` (default: ``[ovs] integration_bridge``
and ``external_bridge``): those our agents marked for this ``host``, and unmarked
qr-/qg- ports and DHCP taps (named in ``<state_path>/dhcp/*/interface``) plugged
by an interface driver (:func:`agent.cleanup.ports.is_our_port`).  Every other
port stays, a VM's ``tap<port id>`` among them.  Run at boot before the agents
(``netnode-ovs-cleanup.service``): they plug their ports again.  Idempotent; needs
no controller.  Exit status 1 if a port could not be deleted or OVSDB is
unreachable, 2 on a bad command line.
"""

from __future__ import annotations


import logging
import sys

from oslo_config import cfg

from agent.cleanup import tool
from agent.cleanup.ports import OvsPortCleaner, dhcp_taps_of

LOG = logging.getLogger(__name__)

CLI_OPTS = [
    cfg.MultiStrOpt('bridge', default=[], metavar='BRIDGE',
                    help='Clean this bridge (repeatable). Default: [ovs] '
                         'integration_bridge and external_bridge.'),
]


def parse(argv):
    return tool.parse(argv, CLI_OPTS)


def bridges_of(conf):
    return list(conf.bridge) or [conf.ovs.integration_bridge, conf.ovs.external_bridge]


def clean(conf) -> int:
    ovs, error = tool.connect_ovs(conf)
    if ovs is None:
        LOG.error('Cannot clean Open vSwitch ports: %s', error)
        return 1
    from agent.drivers.link import LinkDriver
    cleaner = OvsPortCleaner(ovs, conf.host, dhcp_taps_of(conf.state_path), LinkDriver())
    return 0 if cleaner.clean_bridges(bridges_of(conf)).ok else 1


def main(argv=None):
    return tool.run('netnode-ovs-cleanup', CLI_OPTS, argv, clean)


if __name__ == '__main__':
    sys.exit(main())
