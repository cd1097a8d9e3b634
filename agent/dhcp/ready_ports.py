"""``dhcp_ready_on_ports`` in batches, on its own thread (Neutron's behaviour).

Every ``interval`` seconds up to ``batch`` port ids are sent in one call; on
failure they are put back and sent again later.  ``add`` is cheap and never
blocks on the bus.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

LOG = logging.getLogger(__name__)

BATCH = 64          # DHCP_READY_PORTS_SYNC_MAX
INTERVAL = 0.2


class ReadyPortsReporter:
    def __init__(self, send: Callable[[list[str]], None], *, batch: int = BATCH,
                 interval: float = INTERVAL):
        self._send = send
        self._batch = batch
        self._interval = interval
        self._lock = threading.Lock()
        self._pending: dict[str, None] = {}      # insertion-ordered set
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.failures = 0

    def add(self, port_ids: Iterable[str]) -> None:
        with self._lock:
            for port_id in port_ids:
                self._pending[port_id] = None

    def pending(self) -> list[str]:
        with self._lock:
            return list(self._pending)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='dhcp-ready-ports')
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.send_once()

    def send_once(self) -> int:
        """Send one batch now; returns how many ids were delivered."""
        with self._lock:
            batch = list(self._pending)[:self._batch]
            for port_id in batch:
                del self._pending[port_id]
        if not batch:
            return 0
        try:
            self._send(batch)
        except Exception as exc:  # noqa: BLE001 - the bus may be away: retry later
            self.failures += 1
            LOG.warning('dhcp_ready_on_ports for %d ports failed, will retry: %s',
                        len(batch), exc)
            self.add(batch)
            return 0
        self.sent += len(batch)
        return len(batch)
