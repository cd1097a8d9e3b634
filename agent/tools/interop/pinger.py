"""Pings at 10 per second that run through the restarts, resyncs and churn, and
how many were lost."""

from __future__ import annotations

import os
import re
import signal
import subprocess


class Pinger:
    def __init__(self, what: str, ns: str, address: str, log_path: str):
        self.what, self.log_path = what, log_path
        self.out = open(log_path, 'w')
        self.proc = subprocess.Popen(['ip', 'netns', 'exec', ns, 'ping', '-n', '-i', '0.1',
                                      '-W', '1', address], stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def stop(self) -> tuple[int, int]:
        """(sent, lost): SIGINT makes ping print its summary."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.out.close()
        with open(self.log_path) as f:
            return summary(f.read())


def summary(text: str) -> tuple[int, int]:
    """(transmitted, lost) from ping's summary line (pure)."""
    match = re.search(r'(\d+) packets transmitted, (\d+) (?:packets )?received', text)
    if not match:
        return 0, 0
    sent, received = int(match.group(1)), int(match.group(2))
    return sent, sent - received
