"""The signals every netnode service answers the same way."""

from __future__ import annotations

import logging
import signal
import threading

LOG = logging.getLogger(__name__)


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (call from the main thread)."""
    def handler(signum, _frame):
        LOG.info('caught %s, stopping', signal.Signals(signum).name)
        stop.set()
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
