"""Finding and stopping the dnsmasq/haproxy/radvd/keepalived children of one network
or router.

A process counts as ours only if ALL of these hold: its program is dnsmasq,
haproxy or radvd, its command line carries the resource's uuid, and it carries our
``state_path`` (dnsmasq's ``--pid-file=<state>/dhcp/<uuid>/pid``, haproxy's ``-f
<state>/ns-metadata-proxy/<uuid>.conf``, radvd's ``-p
<state>/external/pids/<uuid>.pid.radvd``, keepalived's ``-f
<state>/ha_confs/<uuid>/keepalived.conf``).  They are found through their pid files
(``<state>/dhcp/<uuid>/pid``, ``<state>/external/pids/<uuid>.pid.<service>``) and,
for children whose pid file was lost, through ``/proc``.  No other process is ever
signalled.

A shared metadata proxy's listener in the namespace (``metadata_proxy_mode =
shared``) counts as a child of the resource too (its socket keeps the namespace
alive): stopping it asks the proxy to close that socket, the proxy keeps serving
the others.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Dict, Iterator, List, Optional

from agent.process.driver import HostProcessDriver
from agent.metadata import proxy_control
from agent.process.manager import ProcessError, ProcessManager, RunningProcess

LOG = logging.getLogger(__name__)

SERVICES = ('dnsmasq', 'haproxy', 'radvd', 'keepalived')
LISTENER = 'metadata-listener'     # a shared metadata proxy's socket in the namespace
_UUID_IN_TEXT = re.compile(r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')


def _pids() -> Iterator[int]:
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            yield int(entry)


class ChildProcesses:
    """Our children under one ``state_path``, by resource uuid."""

    def __init__(self, state_path: str, manager: Optional[ProcessManager] = None,
                 driver=None, list_pids=_pids) -> None:
        self.state_path = os.path.normpath(state_path)
        self.driver = driver or HostProcessDriver()
        self.manager = manager or ProcessManager(self.driver)
        self._list_pids = list_pids
        self._by_uuid: Optional[Dict[str, List[RunningProcess]]] = None

    def pid_dir(self, service: str) -> str:
        if service == 'dnsmasq':
            return os.path.join(self.state_path, 'dhcp')
        if service == 'keepalived':         # ha_confs_path's default
            return os.path.join(self.state_path, 'ha_confs')
        return os.path.join(self.state_path, 'external', 'pids')

    def pid_file(self, service: str, uuid: str) -> str:
        if service == 'dnsmasq':
            return os.path.join(self.pid_dir(service), uuid, 'pid')
        return os.path.join(self.pid_dir(service), f'{uuid}.pid.{service}')

    def _is_ours(self, argv, uuid: str) -> bool:
        marker = self.state_path + os.sep
        return (bool(argv) and os.path.basename(argv[0]) in SERVICES
                and any(uuid in arg for arg in argv)
                and any(marker in arg for arg in argv))

    def refresh(self) -> None:
        """Take a new snapshot of our children: pid files and /proc are read once
        per snapshot, not once per namespace (boot with 1000 namespaces)."""
        by_uuid: Dict[str, Dict[int, RunningProcess]] = {}
        for service in SERVICES:
            for proc in self.manager.list_running(service, self.pid_dir(service)):
                if self._is_ours(proc.argv, proc.uuid):
                    by_uuid.setdefault(proc.uuid, {})[proc.pid] = proc
        marker = self.state_path + os.sep
        for pid in self._list_pids():
            if pid == os.getpid():
                continue
            argv = self.driver.cmdline(pid)
            if (not argv or os.path.basename(argv[0]) not in SERVICES
                    or not any(marker in arg for arg in argv)):
                continue
            service = os.path.basename(argv[0])
            # indexed under every uuid it carries (dnsmasq names its subnets too)
            for uuid in set(_UUID_IN_TEXT.findall(' '.join(argv))):
                by_uuid.setdefault(uuid, {}).setdefault(pid, RunningProcess(
                    service, uuid, pid, self.pid_file(service, uuid), tuple(argv)))
        for control, pid, listeners in proxy_control.proxies_under(self.state_path):
            for uuid in listeners:
                by_uuid.setdefault(uuid, {}).setdefault(pid, RunningProcess(
                    LISTENER, uuid, pid, control, ('metadata listener',)))
        self._by_uuid = {uuid: sorted(procs.values(), key=lambda p: p.pid)
                         for uuid, procs in by_uuid.items()}

    def find(self, uuid: str) -> List[RunningProcess]:
        """Live children of ours for ``uuid`` in the current snapshot, each once."""
        if self._by_uuid is None:
            self.refresh()
        return list(self._by_uuid.get(uuid, ()))

    def stop(self, proc: RunningProcess) -> bool:
        """SIGTERM (then SIGKILL) ``proc`` if it is still ours; True if it was stopped.
        A shared proxy's listener is closed by the proxy instead."""
        if proc.service == LISTENER:
            try:
                stopped = bool(proxy_control.request(proc.pid_file, {
                    'op': 'remove', 'id': proc.uuid})['removed'])
            except (OSError, proxy_control.ProxyError, ValueError) as exc:
                raise ProcessError(f'{proc.service} for {proc.uuid}: {exc}') from exc
        else:
            stopped = self.manager.stop_running(proc)
        if stopped:
            LOG.info('Stopped %s for %s (pid %d)', proc.service, proc.uuid, proc.pid)
        return stopped
