"""The signals every netnode service answers the same way."""

from __future__ import annotations

import logging
import signal
import threading

LOG = logging.getLogger(__name__)


def stop_on_signals(stop: threading.Event, on_signal=None) -> None:
    """SIGTERM and SIGINT set ``stop`` (call from the main thread), after calling
    ``on_signal()`` if given."""
    def handler(signum, _frame):
        LOG.info('caught %s, stopping', signal.Signals(signum).name)
        if on_signal is not None:
            on_signal()
        stop.set()
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
