"""``netnode-ovs-cleanup``: delete our stale ports from Open vSwitch bridges.

    netnode-ovs-cleanup [--bridge BR]... --config-file /etc/netnode/netnode.conf ...

Removes the ports whose Interface carries our external_ids (``iface-id`` and
``attached-mac``) and whose name starts with tap, qr- or qg-, from each ``--bridge``
(default: ``[ovs] integration_bridge`` and ``external_bridge``).  Every other port
stays.  Run at boot before the agents (``netnode-ovs-cleanup.service``): they plug
their ports again.  Idempotent; needs no controller.  Exit status 1 if a port could
not be deleted or OVSDB is unreachable, 2 on a bad command line.
"""

from __future__ import annotations


import logging
import sys

from oslo_config import cfg

from agent.cleanup import tool
from agent.cleanup.ports import OvsPortCleaner

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
    return 0 if OvsPortCleaner(ovs).clean_bridges(bridges_of(conf)).ok else 1


def main(argv=None):
    return tool.run('netnode-ovs-cleanup', CLI_OPTS, argv, clean)


if __name__ == '__main__':
    sys.exit(main())
