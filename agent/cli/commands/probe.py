"""probe-create and probe-delete: a test "VM" namespace plugged into a network.

These act on this host too (OVS and a namespace), so they read the agent's
configuration for the host name and the integration bridge:
``--config-file`` (repeatable), or ``--host`` / ``--integration-bridge``.
"""

from agent.cli.commands import common

COLUMNS = ['id', 'name', 'mac_address', 'fixed_ips', 'namespace', 'device']


def _host(args):
    """(ProbeHost, drivers, vlans) from the agent configuration and overrides."""
    from agent.conf import service
    from agent.dhcp.agent import host_drivers
    from agent.drivers.local_vlan import LocalVlans
    from agent.probe.probe import ProbeHost
    argv = [a for f in args.config_file or () for a in ('--config-file', f)]
    conf = service.make_conf(argv, groups=service.AGENT_GROUPS)
    if args.host:
        conf.set_override('host', args.host)
    if args.integration_bridge:
        conf.set_override('integration_bridge', args.integration_bridge, 'ovs')
    if args.ovsdb_connection:
        conf.set_override('ovsdb_connection', args.ovsdb_connection, 'ovs')
    drivers = host_drivers(conf)
    return ProbeHost.from_conf(conf), drivers, LocalVlans.from_conf(conf, drivers.ovs)


def create(client, args):
    from agent.probe import probe
    where, drivers, vlans = _host(args)
    try:
        port = probe.create_probe(client, drivers, vlans, where, args.network, args.name)
    except probe.ProbeError as exc:
        raise common.CommandError(str(exc)) from None
    return common.Shown(port, 'Created a new probe:')


def delete(client, args):
    from agent.probe import probe
    where, drivers, _ = _host(args)
    for ref in args.refs:
        try:
            probe.delete_probe(client, drivers, where, ref)
        except probe.ProbeError as exc:
            raise common.CommandError(str(exc)) from None
    return common.Message(f"Deleted probe(s): {', '.join(args.refs)}")


def _host_options(p):
    p.add_argument('--config-file', action='append', metavar='PATH',
                   help='Agent configuration (host, [ovs]); repeatable.')
    p.add_argument('--host', help='Host name of this node (default: from the config).')
    p.add_argument('--integration-bridge', metavar='BRIDGE',
                   help='Bridge to plug the probe into (default: [ovs] '
                        'integration_bridge).')
    p.add_argument('--ovsdb-connection', metavar='URL', help='OVSDB server.')


def register(sub):
    p = common.command(sub, 'probe-create', create,
                       'Create a probe: a port of NETWORK plugged into its own '
                       'namespace on this host.')
    p.add_argument('network', metavar='NETWORK')
    p.add_argument('--name')
    _host_options(p)

    p = common.command(sub, 'probe-delete', delete, 'Delete probes.')
    p.add_argument('refs', nargs='+', metavar='PROBE')
    _host_options(p)
