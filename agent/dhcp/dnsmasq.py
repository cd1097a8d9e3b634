"""dnsmasq's command line, in Neutron 29's exact order, and reload-versus-restart.

Pure functions (``neutron/agent/linux/dhcp.py`` ``_build_cmdline_callback``;
``neutron/agent/dhcp/agent.py`` ``refresh_dhcp_helper``).  The interface driver
is the OVS one, which is *bridged*: no ``--bridge-interface``.
"""

from __future__ import annotations

import ipaddress

from agent.dhcp import render
from agent.dhcp.settings import DhcpPaths, DnsmasqSettings
from agent.model.network import (DEVICE_OWNER_DHCP, IPV6_DHCP_STATEFUL, IPV6_DHCP_STATELESS,
                                 Network, Subnet)

RELOAD = 'reload'      # rewrite host/addn_hosts/opts, SIGHUP
RESTART = 'restart'    # argv changed, or a SIGHUP would crash it: stop, spawn again
DISABLE = 'disable'    # no DHCP-enabled subnet left: stop, remove the files
NONE = 'none'          # nothing rendered changed


def ranged_subnets(network: Network) -> tuple[Subnet, ...]:
    """The DHCP-enabled subnets that get a ``--dhcp-range``."""
    return tuple(s for s in network.dhcp_subnets if has_dhcp_range(s))


def has_dhcp_range(subnet: Subnet) -> bool:
    """Whether a DHCP-enabled subnet gets a ``--dhcp-range`` (Neutron's rule).

    IPv6: dhcpv6-stateful, dhcpv6-stateless, or neither mode set (an
    ``ipv6_ra_mode`` alone means RA only: no range); never a prefix < 64.
    """
    if subnet.ip_version == 4:
        return True
    mode, ra_mode = subnet.ipv6_address_mode, subnet.ipv6_ra_mode
    ranged = (mode in (IPV6_DHCP_STATEFUL, IPV6_DHCP_STATELESS)
              or (not mode and not ra_mode))
    return ranged and subnet.cidr.prefixlen >= 64


def dhcp_range(subnet: Subnet, settings: DnsmasqSettings) -> str:
    cidr = subnet.cidr
    size = cidr.netmask if subnet.ip_version == 4 else cidr.prefixlen
    return (f'--dhcp-range=set:{render.SUBNET_TAG % subnet.id},'
            f'{cidr.network_address},static,{size},{settings.lease}')


def lease_max(network: Network, settings: DnsmasqSettings) -> int:
    """Sum of the ranged subnets' sizes, capped by ``dnsmasq_lease_max``."""
    possible = sum(s.cidr.num_addresses for s in ranged_subnets(network))
    return min(possible, settings.lease_max)


def dnsmasq_argv(network: Network, dhcp_port_device: str,
                 settings: DnsmasqSettings) -> tuple[str, ...]:
    """The full argv, ``dnsmasq`` first.

    ``dhcp_port_device`` is not on the command line with the bridged (OVS)
    driver; it is taken so a non-bridged driver can add ``--bridge-interface``.
    """
    del dhcp_port_device   # bridged driver: dnsmasq binds dynamically
    paths = DhcpPaths.of(settings, network.id)
    argv = ['dnsmasq', '--no-hosts']
    if settings.dns_servers or not settings.local_resolv:
        argv.append('--no-resolv')
    argv += [
        f'--pid-file={paths.pid}',
        f'--dhcp-hostsfile={paths.host}',
        f'--addn-hosts={paths.addn_hosts}',
        f'--dhcp-optsfile={paths.opts}',
        f'--dhcp-leasefile={paths.leases}',
        '--dhcp-match=set:ipxe,175',
        '--dhcp-userclass=set:ipxe6,iPXE',
        '--local-service',
        '--bind-dynamic',
    ]
    argv += [dhcp_range(s, settings) for s in ranged_subnets(network)]
    if network.mtu > 0:
        argv.append(f'--dhcp-option-force=option:mtu,{network.mtu}')
    argv.append(f'--dhcp-lease-max={lease_max(network, settings)}')
    if settings.renewal_time > 0:
        argv.append(f'--dhcp-option-force=option:T1,{settings.renewal_time}s')
    if settings.rebinding_time > 0:
        argv.append(f'--dhcp-option-force=option:T2,{settings.rebinding_time}s')
    if settings.txt_record:
        argv.append(f'--txt-record={settings.txt_record}')
    argv.append(f'--conf-file={settings.config_file.strip() or "/dev/null"}')
    argv += [f'--server={server}' for server in settings.dns_servers]
    if settings.dns_domain:
        argv.append(f'--domain={settings.dns_domain}')
    if settings.broadcast_reply:
        argv.append('--dhcp-broadcast')
    if served_by_several(network):
        argv.append('--dhcp-authoritative')
    return tuple(argv)


def served_by_several(network: Network) -> bool:
    """Whether the network has more than one DHCP port (dhcp_agents_per_network > 1).

    Then dnsmasq runs with ``--dhcp-authoritative`` (which Neutron 29 does not
    pass): a client whose server died rebinds by broadcast, and dnsmasq answers a
    REBIND for a lease missing from its own lease file only when authoritative
    (otherwise it keeps silent, and the client keeps its address only until the
    lease runs out, then starts over with a DISCOVER).  Every server of the
    network has the same static hosts, so each may answer for the others.
    """
    return sum(1 for p in network.ports if p.device_owner == DEVICE_OWNER_DHCP) > 1


def _addresses(fields: list[str]) -> set[str]:
    found = set()
    for field in fields:
        try:
            found.add(str(ipaddress.ip_address(field.strip('[]'))))
        except ValueError:
            pass
    return found


TAGGED_RELOAD_CRASH = ('a client of a port with extra DHCP options holds a lease, '
                       'and a SIGHUP could crash dnsmasq 2.86-2.90')


def served_tagged_host(host_file: str, leases: str) -> bool:
    """Whether a host that the ``--dhcp-hostsfile`` gives a ``set:`` tag has been
    answered: its lease (by MAC or address) has an expiry, not the seed's ``0``.

    A tagged line without an address (DHCPv6 stateless: no lease to tell) counts
    as answered.
    """
    live = [line.split() for line in leases.splitlines()]
    live = [f for f in live if len(f) >= 3 and f[0] not in ('0', 'duid')]
    for line in host_file.splitlines():
        fields = line.split(',')
        if not any(field.startswith('set:') for field in fields):
            continue
        addresses = _addresses(fields[1:])
        if not addresses:
            return True
        mac = fields[0].lower()
        if any(f[1].lower() == mac or f[2] in addresses for f in live):
            return True
    return False


def avoid_host_tag_reload_crash(old: render.DnsmasqFiles, new: render.DnsmasqFiles,
                                leases: str) -> str:
    """How a running dnsmasq takes ``new`` in place of the loaded ``old`` files,
    given its lease file ``leases``.

    Guards against a dnsmasq bug (2.86 to at least 2.90, Debian 12's): once it has
    answered a client whose ``--dhcp-hostsfile`` line carries a ``set:`` tag (a
    port with extra DHCP options, ``set:port-<id>``), a SIGHUP frees that tag while
    dnsmasq still points at it, and the next DHCP packet from any client kills it
    with a segfault (the tag is freed by ``dhcp_netid_free`` on re-reading the
    hosts file: "skip local variable in dhcp_netid_free when reload dnsmasq
    config", pull request #20 on the imp/dnsmasq mirror, for 2.86).  Measured with
    2.90: it does not matter whether the new files keep, change or drop the tag,
    and tagged hosts that no client has asked for are harmless.  So a change while
    a tagged host holds a lease (``served_tagged_host``) restarts dnsmasq (as a
    changed command line does: the lease seed resets the expiries); every other
    change stays a SIGHUP.  ``none`` when nothing changed.
    """
    if old == new:
        return NONE
    return RESTART if served_tagged_host(old.host, leases) else RELOAD


def dhcp_cidrs(network: Network | None) -> tuple[str, ...]:
    """The ordered CIDRs of the DHCP-enabled subnets (Neutron's restart trigger)."""
    if network is None:
        return ()
    return tuple(str(s.cidr) for s in network.dhcp_subnets)


def dnsmasq_decision(old: Network | None, new: Network | None,
                     settings: DnsmasqSettings = DnsmasqSettings(),
                     dhcp_port_id: str | None = None, leases: str = '') -> str:
    """What a running dnsmasq needs to go from ``old`` to ``new``.

    ``disable`` when no DHCP-enabled subnet is left (or the network is gone or
    administratively down); ``restart`` when the command line changes (the
    DHCP-enabled CIDRs as in Neutron, but also a subnet replaced under the same
    CIDR, whose range tag changes, or the MTU); ``reload`` when a re-read file
    changes (``restart`` where a SIGHUP would crash dnsmasq, see
    ``avoid_host_tag_reload_crash``: ``leases`` is its lease file); else ``none``.
    ``old`` None means nothing runs yet: ``restart`` (spawn).
    """
    if new is None or not new.admin_state_up or not dhcp_cidrs(new):
        return DISABLE if old is not None else NONE
    if old is None or not dhcp_cidrs(old):
        return RESTART
    if (dhcp_cidrs(old) != dhcp_cidrs(new)
            or dnsmasq_argv(old, '', settings) != dnsmasq_argv(new, '', settings)):
        return RESTART
    return avoid_host_tag_reload_crash(render.render_files(old, settings, dhcp_port_id),
                                       render.render_files(new, settings, dhcp_port_id),
                                       leases)
