"""Remove everything a run made, from its record (``<run dir>/record.json``):
processes (recorded pids, and every process whose command line holds the run
directory: dnsmasq, haproxy, privsep helpers, MariaDB), namespaces, bridges, the
OVS manager row, the vhost, the run directory.  Neutron's virtualenv stays in the
cache.  Every step runs even when an earlier one failed.
"""

from __future__ import annotations

import os
import re
import shutil

from agent.common import procfs
from agent.tools.aio import host
from agent.tools.interop.settings import RUN_ROOT, Settings

_ID = re.compile(r'^[0-9a-f]{6}$')


def _processes(s: Settings, record: host.Record) -> list[str]:
    pids = {p for p in record.get('pids', {}).values() if procfs.alive(p)}
    pids |= set(procfs.pids_with([s.run_dir + '/', f'interop-{s.run_id}-']))
    if s.ovsdb_port:
        pids |= set(procfs.pids_with([f'tcp:127.0.0.1:{s.ovsdb_port}']))
    pids -= procfs.ancestors()
    if not pids:
        return []
    killed = procfs.terminate(sorted(pids), 20.0)
    return [f'{len(pids)} processes stopped' + (f' ({len(killed)} killed)' if killed else '')]


def _namespaces(s: Settings, record: host.Record) -> list[str]:
    mine = [ns for ns in host.netns_list()
            if ns.startswith(f'interop-{s.run_id}-') or ns in record.get('namespaces', [])]
    # The agents' namespaces are named after this run's networks and routers.
    ids = set(record.get('networks', [])) | set(record.get('routers', []))
    mine += [ns for ns in host.netns_list()
             if ns.split('-', 1)[-1] in ids and ns.startswith(('qdhcp-', 'qrouter-'))]
    for ns in sorted(set(mine)):
        host.sh('ip', 'netns', 'delete', ns)
        shutil.rmtree(f'/etc/netns/{ns}', ignore_errors=True)
    return [f'namespaces: {", ".join(sorted(set(mine)))}'] if mine else []


def _ovs(s: Settings, record: host.Record) -> list[str]:
    done = []
    present = host.bridges()
    for bridge in record.get('bridges', []):
        if bridge in present:
            host.ovs('--if-exists', 'del-br', bridge)
            done.append(f'bridge {bridge}')
    target = record.get('manager')
    if target:
        found = host.ovs('--bare', '--columns=_uuid', 'find', 'Manager',
                         f'target="{target}"').stdout.split()
        for uuid in found:
            host.ovs('remove', 'Open_vSwitch', '.', 'manager_options', uuid)
            done.append(f'OVS manager {target}')
    return done


def _vhost(record: host.Record) -> list[str]:
    vhost = record.get('vhost')
    if vhost and vhost.startswith('netnode-interop-'):
        host.sh('rabbitmqctl', '-q', 'delete_vhost', vhost)
        return [f'vhost {vhost}']
    return []


def clean(run_dir: str) -> list[str]:
    """What was removed, one item a line; never raises for a missing piece."""
    run_id = run_dir.rsplit('-', 1)[-1]
    if not (_ID.match(run_id) and run_dir == f'{RUN_ROOT}-{run_id}'):
        raise ValueError(f'{run_dir}: not a run directory of the interop job')
    record = host.Record(os.path.join(run_dir, 'record.json'))
    settings = record.get('settings')
    s = Settings.from_dict(settings) if settings else Settings(run_id, 0, 0, 0, '')
    done = []
    for step in (lambda: _processes(s, record), lambda: _namespaces(s, record),
                 lambda: _ovs(s, record), lambda: _vhost(record)):
        try:
            done += step()
        except Exception as exc:  # noqa: BLE001 - the next steps still run
            done.append(f'FAILED: {type(exc).__name__}: {exc}')
    if os.path.isdir(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)
        done.append(f'directory {run_dir}')
    return done


def leftovers(run_dir: str, record_data: dict) -> list[str]:
    """What of the run is still on the host (after ``clean``)."""
    run_id = run_dir.rsplit('-', 1)[-1]
    found = [f'process {pid}: {cmd[:100]}' for pid, cmd in
             procfs.pids_with([run_dir + '/', f'interop-{run_id}-']).items()]
    ids = set(record_data.get('networks', [])) | set(record_data.get('routers', []))
    found += [f'namespace {ns}' for ns in host.netns_list()
              if ns.startswith(f'interop-{run_id}-') or ns.split('-', 1)[-1] in ids]
    found += [f'bridge {b}' for b in record_data.get('bridges', []) if b in host.bridges()]
    target = record_data.get('manager')
    if target and host.ovs('--bare', '--columns=_uuid', 'find', 'Manager',
                           f'target="{target}"').stdout.strip():
        found.append(f'OVS manager {target}')
    vhost = record_data.get('vhost')
    if vhost and vhost in host.sh('rabbitmqctl', '-q', 'list_vhosts').stdout.split():
        found.append(f'vhost {vhost}')
    if os.path.exists(run_dir):
        found.append(f'directory {run_dir}')
    return found
