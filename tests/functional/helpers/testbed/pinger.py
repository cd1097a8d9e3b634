"""A pinger that records every packet: ICMP echo requests to one address at a fixed
rate, each request's send time and each reply's receive time written to a file as
they happen (``S <seq> <time>`` and ``R <seq> <time>``, wall-clock seconds, so
that they line up with the times a test records in another namespace).

Run as a script inside the namespace to ping from (a probe, the outside world):

    python pinger.py <address> <log> [--rate 10]

it pings until SIGTERM or SIGINT.  :class:`Pinger` runs it for a test;
:func:`read_log` and :class:`PingLog` turn the file into lost pings and outages.
``ping -i 0.1`` prints neither the send time of a lost request nor a reply
after its successor, which is what the outage window needs.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0


# -- the script ---------------------------------------------------------------------

def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack(f'!{len(data) // 2}H', data))
    total = (total >> 16) + (total & 0xffff)
    total += total >> 16
    return ~total & 0xffff


def echo_request(ident: int, seq: int) -> bytes:
    payload = b'netnode-pinger'.ljust(32, b'.')
    header = struct.pack('!BBHHH', ICMP_ECHO_REQUEST, 0, 0, ident, seq)
    return struct.pack('!BBHHH', ICMP_ECHO_REQUEST, 0, _checksum(header + payload),
                       ident, seq) + payload


def parse_reply(packet: bytes, ident: int) -> int | None:
    """The sequence number of an echo reply to us in a raw IPv4 packet, else None."""
    if len(packet) < 20:
        return None
    offset = (packet[0] & 0x0f) * 4
    if len(packet) < offset + 8:
        return None
    kind, _, _, their_ident, seq = struct.unpack('!BBHHH', packet[offset:offset + 8])
    return seq if kind == ICMP_ECHO_REPLY and their_ident == ident else None


def run(address: str, log_path: str, rate: float) -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.settimeout(0.2)
    ident = os.getpid() & 0xffff
    lock = threading.Lock()
    with open(log_path, 'w', buffering=1) as log:
        def write(line: str) -> None:
            with lock:
                log.write(line)

        def receive() -> None:
            while not stop.is_set():
                try:
                    packet = sock.recv(2048)
                except socket.timeout:
                    continue
                seq = parse_reply(packet, ident)
                if seq is not None:
                    write(f'R {seq} {time.time():.6f}\n')

        receiver = threading.Thread(target=receive, daemon=True)
        receiver.start()
        interval, seq, start = 1.0 / rate, 0, time.monotonic()
        while not stop.is_set():
            if seq > 0xffff:
                break           # 16-bit sequence numbers: 1.8 hours at 10 per second
            try:
                sock.sendto(echo_request(ident, seq), (address, 0))
            except OSError:
                pass            # no route yet: a lost ping like any other
            write(f'S {seq} {time.time():.6f}\n')
            seq += 1
            stop.wait(max(0.0, start + seq * interval - time.monotonic()))
        receiver.join()


# -- reading the log -------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Outage:
    start: float            # send time of the first request without a reply
    end: float              # send time of the last one, plus one interval
    lost: int               # requests without a reply in between (all of them)

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclasses.dataclass(frozen=True)
class PingLog:
    sent: dict                  # seq -> send time
    received: dict              # seq -> receive time
    rate: float

    def settled(self, grace: float = 1.0) -> dict:
        """Requests old enough to judge: sent ``grace`` s before the last send."""
        if not self.sent:
            return {}
        last = max(self.sent.values())
        return {s: t for s, t in self.sent.items() if t <= last - grace}

    def lost(self, after: float = 0.0, before: float = float('inf')) -> list[int]:
        return sorted(s for s, t in self.settled().items()
                      if after <= t < before and s not in self.received)

    def lost_seconds(self, after: float = 0.0) -> float:
        return len(self.lost(after)) / self.rate

    def outages(self, after: float = 0.0) -> list[Outage]:
        """Runs of consecutive unanswered requests sent after ``after``."""
        runs: list[list[int]] = []
        for seq in self.lost(after):
            if runs and seq == runs[-1][-1] + 1:
                runs[-1].append(seq)
            else:
                runs.append([seq])
        return [Outage(self.sent[r[0]], self.sent[r[-1]] + 1.0 / self.rate, len(r))
                for r in runs]

    def answered_after(self, when: float) -> int:
        return sum(1 for s, t in self.sent.items() if t >= when and s in self.received)

    def summary(self, after: float = 0.0) -> str:
        outages = self.outages(after)
        longest = max((o.seconds for o in outages), default=0.0)
        return (f'{len(self.settled())} sent, {len(self.lost(after))} lost '
                f'({self.lost_seconds(after):.1f} s) in {len(outages)} outage(s), '
                f'longest {longest:.1f} s')


def read_log(path: str, rate: float) -> PingLog:
    sent, received = {}, {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        fields = line.split()
        if len(fields) != 3 or fields[0] not in 'SR':
            continue                    # a line cut by the kill
        kind, seq, at = fields[0], int(fields[1]), float(fields[2])
        (sent if kind == 'S' else received).setdefault(seq, at)
    return PingLog(sent, received, rate)


# -- running it for a test -------------------------------------------------------------

class Pinger:
    """The script above in a namespace: ``argv_prefix`` is how to enter it (e.g.
    ``bed.in_probe(probe)`` or ``['ip', 'netns', 'exec', ns]``)."""

    def __init__(self, name: str, argv_prefix: list[str], address: str, log_path: str,
                 rate: float = 10.0):
        self.name = name
        self.address = address
        self.log_path = log_path
        self.rate = rate
        self.proc = subprocess.Popen(
            [*argv_prefix, sys.executable, os.path.abspath(__file__), address, log_path,
             '--rate', str(rate)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def log(self) -> PingLog:
        return read_log(self.log_path, self.rate)

    def stop(self) -> PingLog:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read().decode(errors='replace') if self.proc.stderr else ''
        if self.proc.stderr:
            self.proc.stderr.close()
        if self.proc.returncode not in (0, -signal.SIGTERM) and err.strip():
            raise RuntimeError(f'pinger {self.name}: {err.strip()[-1000:]}')
        return self.log()


if __name__ == '__main__':
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('address')
    parser.add_argument('log')
    parser.add_argument('--rate', type=float, default=10.0)
    args = parser.parse_args()
    run(args.address, args.log, args.rate)
