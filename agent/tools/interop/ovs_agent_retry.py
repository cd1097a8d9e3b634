"""neutron-openvswitch-agent (29.0.0) with ports it skipped for want of an ofport retried.

Run by the interop job with Neutron's virtualenv Python in place of the
``neutron-openvswitch-agent`` script (netnode is not installed there: this file
imports Neutron only).

The agent has two OVSDB clients: an ``ovsdb-client monitor`` child, whose events
say a new port is ready once it has an ofport, and its IDL, from which
``treat_devices_added_or_updated`` reads the port.  When the monitor sees the
insert and ovs-vswitchd's ofport in one polling window and the IDL has not yet
received the ofport (milliseconds, under load), ``treat_vif_port`` logs "has no
valid ofport ... will be retried on the next iteration" and returns; nothing
retries it (a later OVSDB change of the port is a *modify* event, which the agent
matches by interface name against port ids), so the port stays on VLAN 4095.
Seen in the interop job about once in five runs; Neutron's own DHCP agent plugs
the same way (iface-id in the insert) and meets it alike.  This returns such
ports as failed devices, which the agent retries on its next iteration (what
upstream's message promises, Launchpad #2155883); nothing else changes.
"""

import logging
import sys

from neutron.cmd.agents.ovs_neutron_agent import main
from neutron.plugins.ml2.drivers.openvswitch.agent import ovs_neutron_agent

LOG = logging.getLogger(__name__)
_treat = ovs_neutron_agent.OVSNeutronAgent.treat_devices_added_or_updated


def treat_devices_added_or_updated(self, *args, **kwargs):
    (skipped, no_active_binding, need_binding, failed, not_in_datapath,
     migrating) = _treat(self, *args, **kwargs)
    retry = set(not_in_datapath) - set(skipped) - set(migrating)
    if retry:
        LOG.warning('netnode interop: retrying port(s) %s on the next iteration '
                    '(no valid ofport in the IDL yet)', ', '.join(sorted(retry)))
    return (skipped, no_active_binding, need_binding, set(failed) | retry,
            not_in_datapath, migrating)


ovs_neutron_agent.OVSNeutronAgent.treat_devices_added_or_updated = (
    treat_devices_added_or_updated)

if __name__ == '__main__':
    sys.argv[0] = 'neutron-openvswitch-agent'
    sys.exit(main())
