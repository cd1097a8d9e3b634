"""Finding and stopping the dnsmasq/haproxy children of one network or router.

A process counts as ours only if ALL of these hold: its program is dnsmasq or
haproxy, its command line carries the resource's uuid, and it carries our
``state_path`` (dnsmasq's ``--pid-file=<state>/dhcp/<uuid>/pid``, haproxy's ``-f
<state>/ns-metadata-proxy/<uuid>.conf``).  They are found through their pid files
(``<state>/dhcp/<uuid>/pid``, ``<state>/external/pids/<uuid>.pid.haproxy``) and,
for children whose pid file was lost, through ``/proc``.  No other process is ever
signalled.
"""

from __future__ import annotations

import logging
import os
from typing import Iterator, List, Optional

from agent.process.driver import HostProcessDriver
from agent.process.manager import ProcessManager, RunningProcess

LOG = logging.getLogger(__name__)

SERVICES = ('dnsmasq', 'haproxy')


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

    def pid_dir(self, service: str) -> str:
        if service == 'dnsmasq':
            return os.path.join(self.state_path, 'dhcp')
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

    def find(self, uuid: str) -> List[RunningProcess]:
        """Live children of ours for ``uuid``, each once."""
        found = {}
        for service in SERVICES:
            for proc in self.manager.list_running(service, self.pid_dir(service)):
                if proc.uuid == uuid and self._is_ours(proc.argv, uuid):
                    found[proc.pid] = proc
        for pid in self._list_pids():
            if pid in found or pid == os.getpid():
                continue
            argv = self.driver.cmdline(pid)
            if argv and self._is_ours(argv, uuid):
                service = os.path.basename(argv[0])
                found[pid] = RunningProcess(service, uuid, pid,
                                            self.pid_file(service, uuid), tuple(argv))
        return sorted(found.values(), key=lambda p: p.pid)

    def stop(self, proc: RunningProcess) -> bool:
        """SIGTERM (then SIGKILL) ``proc`` if it is still ours; True if it was stopped."""
        stopped = self.manager.stop_running(proc)
        if stopped:
            LOG.info('Stopped %s for %s (pid %d)', proc.service, proc.uuid, proc.pid)
        return stopped
