"""``netnode-ovs-cleanup``: delete our stale ports from Open vSwitch bridges.

    netnode-ovs-cleanup [--bridge BR]... --config-file /etc/netnode/netnode.conf ...

Removes the ports whose Interface carries our external_ids (``iface-id`` and
``attached-mac``) and whose name starts with tap, qr- or qg-, from each ``--bridge``
(default: ``[ovs] integration_bridge`` and ``external_bridge``).  Every other port
stays.  Run at boot before the agents (``netnode-ovs-cleanup.service``): they plug
their ports again.  Idempotent; needs no controller.  Exit status 1 if a port could
not be deleted.
"""

from __future__ import annotations


import logging
import sys

from oslo_config import cfg

from agent.cleanup.ports import OvsPortCleaner
from agent.conf import service
from agent.drivers.state import DriverError

LOG = logging.getLogger(__name__)

CLI_OPTS = [
    cfg.MultiStrOpt('bridge', default=[], metavar='BRIDGE',
                    help='Clean this bridge (repeatable). Default: [ovs] '
                         'integration_bridge and external_bridge.'),
]


def parse(argv):
    conf = cfg.ConfigOpts()
    conf.register_cli_opts(CLI_OPTS)
    return service.make_conf(argv, conf=conf)


def bridges_of(conf):
    return list(conf.bridge) or [conf.ovs.integration_bridge, conf.ovs.external_bridge]


def main(argv=None):
    try:
        conf = parse(sys.argv[1:] if argv is None else argv)
    except cfg.Error as exc:
        print(f'netnode-ovs-cleanup: {exc}', file=sys.stderr)
        return 2
    service.setup_logging(conf, 'netnode-ovs-cleanup')
    from agent.drivers.ovs import OvsDriver
    try:
        ovs = OvsDriver.from_conf(conf)
    except DriverError as exc:
        error = str(exc)
    else:
        report = OvsPortCleaner(ovs).clean_bridges(bridges_of(conf))
        return 0 if report.ok else 1
    LOG.error('Cannot clean Open vSwitch ports: %s', error)
    return 1


if __name__ == '__main__':
    sys.exit(main())
