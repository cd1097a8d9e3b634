"""``netnode-netns-cleanup``: delete stale qdhcp-/qrouter-/snat-/fip- namespaces.

    netnode-netns-cleanup [--force] [--agent-type dhcp|l3] [--only NS]...
                          --config-file /etc/netnode/netnode.conf ...

Run at boot (``netnode-netns-cleanup.service``) it removes our namespaces that hold
no device and run no child; ``--force`` (at shutdown, or ``devstack clean``) also
stops their dnsmasq/haproxy children, deletes their OVS ports (on ``[ovs]
integration_bridge`` and ``external_bridge``) and devices, and removes them.
``--only`` restricts the run to the named namespaces.  Foreign namespaces are never
touched.  Idempotent; needs no controller.  Exit status 1 if something could not be
cleaned (see the log), 2 on a bad command line.
"""

from __future__ import annotations


import logging
import sys

from oslo_config import cfg

from agent.cleanup import tool
from agent.cleanup.children import ChildProcesses
from agent.cleanup.namespaces import NS_PREFIXES, NamespaceCleaner

LOG = logging.getLogger(__name__)

CLI_OPTS = [
    cfg.BoolOpt('force', default=False,
                help='Also remove namespaces in use: stop their dnsmasq/haproxy '
                     'children, delete their OVS ports and devices. For shutdown '
                     'and devstack clean only: it takes the data plane down.'),
    cfg.StrOpt('agent-type', choices=sorted(NS_PREFIXES),
               help='Only the namespaces of this agent: dhcp (qdhcp-) or l3 '
                    '(qrouter-, snat-, fip-). Default: both.'),
    cfg.MultiStrOpt('only', default=[], metavar='NAMESPACE',
                    help='Only this namespace (repeatable); it must still be one of '
                         'ours.'),
    cfg.FloatOpt('delay', default=2.0, min=0,
                 help='Seconds between the two passes (the second re-checks that a '
                      'namespace is still unused before deleting it).'),
]


def parse(argv):
    return tool.parse(argv, CLI_OPTS)


def connect_ovs(conf):
    """The OVS driver, or None when OVSDB is unreachable (ports are then left to
    netnode-ovs-cleanup; the devices themselves are still deleted)."""
    ovs, error = tool.connect_ovs(conf)
    if ovs is None:
        LOG.warning('%s: OVS ports of removed namespaces are left for '
                    'netnode-ovs-cleanup', error)
    return ovs


def build_cleaner(conf):
    from agent.drivers.link import LinkDriver
    from agent.drivers.netns import NetnsDriver
    return NamespaceCleaner(
        netns=NetnsDriver(), links=LinkDriver(),
        ovs=connect_ovs(conf) if conf.force else None,
        children=ChildProcesses(conf.state_path),
        bridges=[conf.ovs.integration_bridge, conf.ovs.external_bridge],
        force=conf.force, agent_type=conf.agent_type, only=conf.only, delay=conf.delay)


def clean(conf) -> int:
    return 0 if build_cleaner(conf).run().ok else 1


def main(argv=None):
    return tool.run('netnode-netns-cleanup', CLI_OPTS, argv, clean)


if __name__ == '__main__':
    sys.exit(main())
