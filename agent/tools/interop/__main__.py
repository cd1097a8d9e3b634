"""``python -m agent.tools.interop [--compare | --clean RUN_DIR]`` (see
tools/neutron-interop.sh).

neutron 29 (API under uwsgi, RPC server, periodic workers, Open vSwitch agent, a
private MariaDB, a vhost of its own) with netnode's DHCP, L3 and metadata agents as
drop-ins: the reference scenario built with the openstack CLI and checked from the
"VMs" and the outside, then restarts, resyncs and churn under pingers, then an HA
router (keepalived primary, ha_state active, SNAT and a floating IP).  With
``--compare``: the scenario's timings and the agents' memory first with Neutron's
own agents, then with netnode's.  Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time

from agent.tools.aio import host
from agent.tools.aio import scenario as aio_scenario
from agent.tools.aio.settings import Settings as AioSettings
from agent.tools.interop import cleanup, ha_router, report, services
from agent.tools.interop.endure import Endurance
from agent.tools.interop.phase import Phase
from agent.tools.interop.settings import SHARED_SECRET, Settings, free_port


def aio_settings(s: Settings) -> AioSettings:
    """The all-in-one's settings the reused checks read (state dir, outside)."""
    return AioSettings.from_env({'NETNODE_AIO_DIR': s.run_dir,
                                 'NETNODE_AIO_LOG_DIR': s.log_dir,
                                 'NETNODE_AIO_INT_BRIDGE': s.int_bridge,
                                 'NETNODE_AIO_EX_BRIDGE': s.ex_bridge,
                                 'NETNODE_AIO_VHOST': s.vhost,
                                 'NETNODE_AIO_OUTSIDE_NS': s.outside_ns})


def footing(s: Settings, record: host.Record) -> None:
    c = host.CONSOLE
    with c.step('neutron 29.0.0 virtualenv (constraints in the repository)') as notes:
        notes.append(services.ensure_venv(s))
    with c.step('config files, RabbitMQ vhost') as notes:
        services.write_configs(s, free_port())
        services.add_vhost(s, record)
        notes.append(f'{s.etc}, vhost {s.vhost}')
    with c.step('MariaDB (private instance), neutron-db-manage upgrade head') as notes:
        notes.append(services.start_mariadb(s, record))
        services.migrate(s)
    with c.step('neutron API (uwsgi), neutron-rpc-server, periodic workers') as notes:
        services.start_server(s, record)
        services.wait_api(s, record)
        notes.append(s.api_url)
    with c.step(f'neutron-openvswitch-agent ({s.int_bridge}, {s.tun_bridge}, '
                f'{s.ex_bridge})') as notes:
        services.add_external_bridge(s, record)
        services.start_ovs_agent(s, record)
        phase = Phase(s, record, None, 'netnode')

        def ovs_alive():
            problem = services.exited(s, record, 'neutron-openvswitch-agent')
            if problem:
                raise host.StepFailed(problem)
            return any(a['agent_type'] == 'Open vSwitch agent' and a.get('alive')
                       for a in phase.client.list('agents', host=s.host)) \
                and s.int_bridge in host.bridges()
        # 240 s: at a load of 26 it was still programming its bridges after 120 s
        host.wait_for(ovs_alive, 240, 0.5, 'the Open vSwitch agent alive')
        notes.append(f'manager {s.manager_target}')
    with c.step('Nova metadata API stand-in (checks the signature)') as notes:
        instances = s.path('nova-instances.json')
        with open(instances, 'w') as f:
            f.write('{}')
        services.start(s, record, 'nova-metadata', [
            sys.executable, '-m', 'agent.tools.interop.novameta', s.nova_port, SHARED_SECRET,
            instances])
        notes.append(f'127.0.0.1:{s.nova_port}')
    with c.step('outside namespace on the external bridge') as notes:
        notes.append(aio_scenario.outside(aio_settings(s), record))


def run_phase(s: Settings, record: host.Record, who: str, endure: bool) -> Phase:
    c = host.CONSOLE
    phase = Phase(s, record, aio_settings(s), who)
    c.say(f'\n== {who}\'s DHCP, L3 and metadata agents')
    with c.step(f'start {", ".join(phase.agents)}'):
        phase.start_agents()
    phase.build()
    phase.check()
    with c.step('RSS of each agent with its helpers') as notes:
        phase.measure_rss()
        notes.append(', '.join(f'{n}: {a // 1024}+{h // 1024} MiB'
                               for n, (a, h) in phase.rss.items()))
    if endure:
        phase.endurance = endurance = Endurance(phase)
        endurance.run()
    else:
        c.check(f'{phase.agent("dhcp")} restart -> a new network served',
                phase.restart_dhcp_timed)
    if who == 'netnode':
        ha_router.run(phase)
    return phase


def run(s: Settings, record: host.Record, compare: bool) -> int:
    c = host.CONSOLE
    footing(s, record)
    phases = []
    if compare:
        phases.append(run_phase(s, record, 'neutron', endure=False))
        with c.step('take the scenario down, stop Neutron\'s agents'):
            phases[0].teardown()
            phases[0].stop_agents()
    phases.append(run_phase(s, record, 'netnode', endure=not compare))
    c.say(report.render(phases, c))
    failed = [what for what, outcome, _ in c.checks if outcome != 'PASS']
    c.say(f'\nchecks: {len(c.checks) - len(failed)} PASS, {len(failed)} FAIL'
          + (f' ({"; ".join(failed)})' if failed else '') + f'; total {c.elapsed():.0f} s')
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='neutron-interop.sh', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--compare', action='store_true',
                      help="Timings and memory of Neutron's own agents, then of netnode's.")
    mode.add_argument('--clean', metavar='RUN_DIR',
                      help='Remove what the run of RUN_DIR made (the shell wrapper\'s trap).')
    parser.add_argument('--run-id', default=os.urandom(3).hex(), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print('neutron-interop: run as root (namespaces, OVS, iptables)', file=sys.stderr)
        return 1
    if args.clean:
        return _clean(args.clean)
    s = Settings.new(args.run_id)
    host.CONSOLE.prefix = '[interop]'
    os.makedirs(s.log_dir, exist_ok=True)
    host.CONSOLE.log_path = os.path.join(s.log_dir, 'interop.log')
    record = host.Record(s.record_file)
    record.set('settings', s.to_dict())
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    code = 1
    try:
        code = run(s, record, args.compare)
    except host.StepFailed as exc:
        host.CONSOLE.say(f'[interop] stopped: {str(exc).splitlines()[0]}')
    except KeyboardInterrupt:
        host.CONSOLE.say('[interop] interrupted')
        code = 130
    finally:
        if code != 0:
            report.tail_logs(s)
        keep = os.environ.get('NETNODE_INTEROP_KEEP_LOGS')
        if keep:
            shutil.copytree(s.log_dir, os.path.join(keep, s.run_id), dirs_exist_ok=True)
        if _clean(s.run_dir) != 0 and code == 0:
            code = 1
    return code


def _clean(run_dir: str) -> int:
    start = time.monotonic()
    record = host.Record(os.path.join(run_dir, 'record.json'))
    data = dict(record.data)
    done = cleanup.clean(run_dir)
    left = cleanup.leftovers(run_dir, data)
    print(f'[interop] cleanup ({time.monotonic() - start:.1f} s): '
          + ('; '.join(done) or 'nothing to remove'), flush=True)
    if left:
        print('[interop] LEFT BEHIND: ' + '; '.join(left), flush=True)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
