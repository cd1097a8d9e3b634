"""``python -m agent.tools.aio [--stop | --clean | --report]`` (see tools/all-in-one.sh).

Without an option: start (or reuse) the services, build the reference scenario,
check it, print the report.  Exit 0 only when every check passed.
"""

from __future__ import annotations

import argparse
import os
import sys

from agent.tools.aio import checks, host, report, scenario, services
from agent.tools.aio.settings import ENV_DOC, SERVICES, Settings


def start_services(s: Settings, console: host.Console, record: host.Record, client):
    with console.step(f'directories and config files ({s.etc_dir})') as notes:
        services.prepare_dirs(s)
        console.log_path = os.path.join(s.log_dir, 'all-in-one.log')
        record.set('state_dir', s.state_dir)
        changed = services.write_configs(s)
        notes.append(f'{len(changed)} written' if changed else 'unchanged')
    with console.step('RabbitMQ vhost and exchange') as notes:
        notes.append(f'{services.ensure_vhost(s, record)}, exchange {s.exchange}')
    with console.step(f'OVS bridges {s.int_bridge}, {s.ex_bridge} '
                      f'(datapath {s.datapath})'):
        services.ensure_bridges(s, record)
    since, started = services.utcnow(), []
    for service in SERVICES:
        with console.step(f'{service}') as notes:
            how = services.ensure(s, service)
            notes.append(how)
            if not how.startswith('reused'):
                started.append(service)
            if service == 'netnode-server':
                services.wait_api(s)
                notes.append(f'API {s.url}')
    with console.step('agents alive in netnode agent-list') as notes:
        agents = services.wait_agents(s, client, started, since)
        notes.append(', '.join(sorted(a['agent_type'] for a in agents)))
    return agents


def build(s: Settings, console: host.Console, record: host.Record, client, cli):
    """The reference scenario; returns what the checks need."""
    with console.step('network openstack-net (gre 1) and its subnet') as notes:
        net, sub, text = scenario.build_tenant(cli, client, record)
        notes.append(text)
    with console.step('router openstack-router') as notes:
        rtr, text = scenario.router(cli, client, record)
        notes.append(text)
    with console.step('router interface on openstack-net-subnet') as notes:
        notes.append(scenario.interface(cli, client, rtr, sub))
    with console.step('network public (router:external) and its subnet') as notes:
        public, _, text = scenario.build_public(cli, client, record)
        notes.append(text)
    with console.step('router gateway on public') as notes:
        notes.append(scenario.gateway(cli, client, rtr, public))
    with console.step('outside namespace on the external bridge') as notes:
        notes.append(scenario.outside(s, record))
    with console.step('probe vm1 (netnode probe-create openstack-net)') as notes:
        port = scenario.probe(s, cli, client, record)
        notes.append(f'{port["namespace"] if port.get("namespace") else "qprobe-" + port["id"]}'
                     f' ({"reused" if port.get("reused") else "created"})')
    with console.step('instance metadata of vm1 (netnode instance-set)') as notes:
        notes.append(scenario.instance(s, cli, port))
    return net, rtr, public, port


def run_checks(s: Settings, console: host.Console, client, cli, rtr, public, port):
    ns = checks.probe_ns(port)
    console.check('DHCP lease in the probe', checks.dhcp, s, port)
    console.check('ping from the probe to the gateway 192.168.10.1', checks.ping, ns,
                  scenario.TENANT_GATEWAY)
    undone = scenario.disassociate_floatingips(cli, client, port)   # a re-run: SNAT first
    echo = None
    try:
        try:
            echo = checks.start_echo(s)
        except host.StepFailed as exc:      # the SNAT and floating-IP checks then fail
            console.say(f'[aio] {exc}')
        if undone:
            console.log(f'{undone} floating IP(s) of the probe disassociated for the '
                        'SNAT check')
        console.check('SNAT from the probe to the outside namespace', checks.snat, s,
                      client, port, rtr['id'])
        console.check('metadata from the probe (169.254.169.254)', checks.metadata, port)

        def fip_check():
            fip = scenario.floatingip(cli, client, public, port)
            return checks.floating_ip(s, port, fip)
        console.check('floating IP of the probe from the outside namespace', fip_check)
    finally:
        checks.stop_echo(echo)


def run(s: Settings, console: host.Console) -> int:
    from agent.cli import client as api
    record = host.Record(s.state_file)
    client = api.Client(s.url, timeout=30)
    cli = scenario.Cli(s)
    agents = start_services(s, console, record, client)
    net, rtr, public, port = build(s, console, record, client, cli)
    run_checks(s, console, client, cli, rtr, public, port)
    console.say(report.render(s, record, client, client.list('agents', host=s.host)))
    console.say('\nThe scenario as CLI commands (this run):')
    for line in cli.commands:
        console.say(f'  {line}')
    console.say(report.timings(console))
    failed = [what for what, outcome, _ in console.checks if outcome != 'PASS']
    passed = len(console.checks) - len(failed)
    console.say(f'\nchecks: {passed} PASS, {len(failed)} FAIL'
                + (f' ({", ".join(failed)})' if failed else '')
                + f'; total {console.elapsed():.1f} s')
    del agents, net
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog='all-in-one.sh', formatter_class=argparse.RawDescriptionHelpFormatter,
        description='netnode on one machine: services, the reference scenario, checks '
                    'and a report.', epilog='environment:\n' + ENV_DOC)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--stop', action='store_true',
                      help='Stop the services; children and the data plane keep serving.')
    mode.add_argument('--clean', action='store_true',
                      help='Stop everything and remove all this instance made.')
    mode.add_argument('--report', action='store_true',
                      help='Only print the report of what exists.')
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print('all-in-one: run as root (namespaces, OVS, iptables)', file=sys.stderr)
        return 1
    try:
        s = Settings.from_env()
    except ValueError as exc:
        print(f'all-in-one: {exc}', file=sys.stderr)
        return 2
    console = host.CONSOLE
    if os.path.isdir(s.log_dir):
        console.log_path = os.path.join(s.log_dir, 'all-in-one.log')
    try:
        if args.clean:
            from agent.tools.aio import clean
            code = clean.clean(s, console)
            console.say(f'[aio] clean: done in {console.elapsed():.1f} s')
            return code
        if args.stop:
            with console.step('stop the services (children and data plane stay)') as notes:
                stopped = services.stop_all(s)
                notes.append(', '.join(stopped) or 'none was running')
            return 0
        if args.report:
            from agent.cli import client as api
            client = api.Client(s.url, timeout=10) \
                if services.find(s, 'netnode-server') else None
            console.say(report.render(s, host.Record(s.state_file), client))
            return 0
        return run(s, console)
    except host.StepFailed as exc:
        console.say(f'[aio] stopped: {exc}'.splitlines()[0])
        console.say(report.timings(console))
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    sys.exit(main())
