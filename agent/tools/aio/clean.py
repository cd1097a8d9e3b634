"""``--clean``: remove exactly what this instance made, and prove nothing is left.

Order: learn the namespaces (controller and record) while the server still
answers; stop the services; ``netnode-netns-cleanup --force --only <ours>``
(children, ports, devices, namespaces of our networks and routers); end the
remaining processes of the instance (state dir in their command line);
``netnode-ovs-cleanup`` on the bridges this instance created; the probe and
outside namespaces and their ``/etc/netns`` directories; the bridges; the vhost;
the directories.  Bridges, vhosts and namespaces of others are never touched.
"""

from __future__ import annotations

import os
import shutil

from agent.cli import client as api
from agent.common import procfs
from agent.tools.aio import host, report, services
from agent.tools.aio.settings import STATE_FILE, Settings


def _bin(name: str) -> str:
    return os.path.join(services.BIN_DIR, name)


def _kill_instance_processes(s: Settings, timeout: float = 10.0) -> int:
    pids = procfs.pids_with(s.markers)
    procfs.terminate(pids, timeout)
    return len(pids)


def own_bridges(s: Settings) -> list[str]:
    present = host.bridges()
    return [b for b in (s.int_bridge, s.ex_bridge)
            if b in present and host.bridge_owner(b) == s.state_dir]


def _remove_dir(path: str, s: Settings) -> bool:
    """Remove a directory of the instance; the state dir only when it is one (it
    holds the record), so a wrong NETNODE_AIO_DIR cannot wipe someone's data."""
    if not os.path.isdir(path):
        return False
    if path == s.state_dir and os.listdir(path) and \
            not os.path.exists(os.path.join(path, STATE_FILE)):
        raise host.StepFailed(f'{path} has no {STATE_FILE}: not an all-in-one state '
                              'directory, left alone')
    shutil.rmtree(path)
    return True


def leftovers(s: Settings, namespaces) -> list[str]:
    found = [f'namespace {ns}' for ns in sorted(set(namespaces) & host.netns_list())]
    found += [f'bridge {b}' for b in own_bridges(s)]
    found += [f'process {pid}: {cmd[:100]}' for pid, cmd in procfs.pids_with(s.markers).items()]
    found += [f'directory /etc/netns/{ns}' for ns in namespaces
              if os.path.exists(f'/etc/netns/{ns}')]
    found += [f'directory {d}' for d in (s.state_dir, s.etc_dir, s.log_dir)
              if os.path.exists(d)]
    return found


def clean(s: Settings, console: host.Console) -> int:
    record = host.Record(s.state_file)
    if record.data and not os.path.exists(s.common_conf):
        services.prepare_dirs(s)
        services.write_configs(s)        # the cleanup tools read them
    with console.step('namespaces of this instance (controller and record)') as notes:
        client = api.Client(s.url, timeout=5) if services.find(s, 'netnode-server') else None
        names = report.instance_namespaces(s, record, client)
        notes.append(f'{sum(ns in host.netns_list() for ns in names)} present')
    with console.step('stop the services') as notes:
        stopped = services.stop_all(s)
        notes.append(', '.join(stopped) or 'none was running')
    ours = sorted(ns for ns in names if ns.startswith(('qdhcp-', 'qrouter-'))
                  and ns in host.netns_list())
    with console.step('netnode-netns-cleanup --force (our qdhcp-/qrouter- only)') as notes:
        if ours:
            argv = [_bin('netnode-netns-cleanup'), '--config-file', s.common_conf,
                    '--force', '--delay', '0']
            for ns in ours:
                argv += ['--only', ns]
            res = host.sh(*argv, timeout=120)
            notes.append(f'{len(ours)} namespace(s), exit {res.returncode}')
        else:
            notes.append('none present')
    with console.step('end the remaining processes of this instance') as notes:
        notes.append(f'{_kill_instance_processes(s)} process(es)')
    bridges = own_bridges(s)
    with console.step('netnode-ovs-cleanup (the bridges this instance created)') as notes:
        if bridges and os.path.exists(s.common_conf):
            argv = [_bin('netnode-ovs-cleanup'), '--config-file', s.common_conf]
            for bridge in bridges:
                argv += ['--bridge', bridge]
            notes.append(f'exit {host.sh(*argv, timeout=120).returncode}')
        else:
            notes.append('no bridge of ours')
    with console.step('probe and outside namespaces, /etc/netns') as notes:
        devices = [s.outside_dev] + [('prb' + ns[len('qprobe-'):])[:14]
                                     for ns in names if ns.startswith('qprobe-')]
        for bridge in (s.int_bridge, s.ex_bridge):
            for dev in devices:
                host.ovs('--if-exists', 'del-port', bridge, dev)
        removed = 0
        for ns in sorted(names):
            if ns in host.netns_list() and not ns.startswith(('qdhcp-', 'qrouter-')):
                host.sh('ip', 'netns', 'delete', ns)
                removed += 1
            if os.path.isdir(f'/etc/netns/{ns}'):
                shutil.rmtree(f'/etc/netns/{ns}', ignore_errors=True)
        # Whatever the force cleanup could not take (reported in its exit status).
        for ns in ours:
            if ns in host.netns_list():
                host.sh('ip', 'netns', 'delete', ns)
                removed += 1
        notes.append(f'{removed} namespace(s)')
    with console.step('bridges') as notes:
        for bridge in bridges:
            host.ovs('--if-exists', 'del-br', bridge, check=True)
        notes.append(', '.join(bridges) or 'none of ours')
    with console.step('RabbitMQ vhost') as notes:
        if record.get('vhost') == s.vhost:
            host.sh('rabbitmqctl', '-q', 'delete_vhost', s.vhost)
            notes.append(f'{s.vhost} deleted')
        else:
            notes.append(f'{s.vhost} not created by this instance, left')
    with console.step('directories (state, configs, logs)') as notes:
        for path in (s.etc_dir, s.log_dir, s.state_dir):
            if _remove_dir(path, s):
                notes.append(path)
    with console.step('nothing left (namespaces, bridges, processes, files)') as notes:
        left = leftovers(s, names)
        if left:
            raise host.StepFailed('left behind:\n' + '\n'.join(left))
        notes.append('clean')
    return 0
