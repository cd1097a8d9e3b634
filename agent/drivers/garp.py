"""Gratuitous ARP without a process: raw frames sent from inside the namespace.

``arping -U -I <dev> -c 1 <ip>`` three times 2 s apart (Neutron's way) costs two
processes per announcement (``ip netns exec``, ``arping``): twelve per router with a
gateway and two floating IPs.  Here the namespace's netlink worker thread (already
inside it, see :func:`agent.drivers.netns.call_netlink`) sends, on the ``AF_PACKET``
socket it keeps, to the device the frame ``arping -U`` sends: a broadcast ARP
request whose sender and target IP are the announced address and whose target
hardware address is the broadcast one.  One scheduler thread sends every repeat.
"""

from __future__ import annotations

import dataclasses
import fcntl
import heapq
import ipaddress
import itertools
import logging
import socket
import struct
import threading
import time
import weakref
from typing import Any, Optional

from agent.drivers import commands
from agent.drivers import netns
from agent.drivers.state import DriverError

LOG = logging.getLogger(__name__)

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARPHRD_ETHER = 1
ARPOP_REQUEST = 1
BROADCAST = b'\xff' * 6
INTERVAL = 2.0


def frame(mac: bytes, ip: ipaddress.IPv4Address) -> bytes:
    """The Ethernet frame of a gratuitous ARP request for ``ip`` from ``mac``."""
    if len(mac) != 6:
        raise ValueError(f'not an Ethernet address: {mac.hex(":")}')
    addr = ip.packed
    return (BROADCAST + mac + struct.pack('!H', ETH_P_ARP)
            + struct.pack('!HHBBH', ARPHRD_ETHER, ETH_P_IP, 6, 4, ARPOP_REQUEST)
            + mac + addr + BROADCAST + addr)


SIOCGIFHWADDR = 0x8927

# One AF_PACKET socket per namespace worker (keyed by its IPRoute, dropped with
# it): closing a packet socket waits for an RCU grace period (synchronize_net(),
# tens of milliseconds on a busy host), during which the namespace's worker,
# and the router's reconcile waiting on it, stood still; a thousand routers
# announce twelve thousand times.
_sockets: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_sockets_lock = threading.Lock()


def _packet_socket(ipr: Any) -> socket.socket:
    with _sockets_lock:
        sock = _sockets.get(ipr)
        if sock is None:
            sock = _sockets[ipr] = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        return sock


def send_here(ipr: Any, dev: str, ip: ipaddress.IPv4Address) -> None:
    """On a thread inside the namespace (its netlink worker, ``ipr`` its
    IPRoute): one frame on ``dev`` (its own MAC as source)."""
    sock = _packet_socket(ipr)
    request = struct.pack('256s', dev.encode())
    mac = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, request)[18:24]
    sock.sendto(frame(mac, ip), (dev, 0))


def send_once(ns: Optional[str], dev: str, ip: Any) -> None:
    """Announce ``ip`` on ``dev`` now (one frame); DriverError if it cannot be sent."""
    addr = ipaddress.IPv4Address(ip)
    LOG.debug('%s', ' '.join(commands.arping(ns, dev, addr)) if ns else
              f'arping -U -I {dev} -c 1 {addr}')
    try:
        netns.call_netlink(ns, send_here, dev, addr)
    except OSError as exc:
        raise DriverError(f'device {dev} in {ns or "the root namespace"}: gratuitous ARP '
                          f'for {addr} failed: {exc}') from exc


@dataclasses.dataclass(eq=False)
class Announcement:
    """One address announced ``left`` more times; joinable like the thread it replaces."""
    ns: Optional[str]
    dev: str
    ip: ipaddress.IPv4Address
    left: int
    done: threading.Event = dataclasses.field(default_factory=threading.Event)

    def join(self, timeout: Optional[float] = None) -> bool:
        return self.done.wait(timeout)

    def is_alive(self) -> bool:
        return not self.done.is_set()


class Announcer:
    """Sends each announcement's frames ``interval`` seconds apart from one thread."""

    def __init__(self, interval: float = INTERVAL, send=send_once) -> None:
        self.interval = interval
        self._send = send
        self._cond = threading.Condition()
        self._due: list = []
        self._order = itertools.count()
        self._thread: Optional[threading.Thread] = None

    def announce(self, ns: Optional[str], dev: str, ip: Any, count: int = 3,
                 delay: float = 0.0) -> Optional[Announcement]:
        """``count`` frames ``interval`` seconds apart, the first after ``delay``."""
        addr = ipaddress.ip_interface(ip).ip if '/' in str(ip) else ipaddress.ip_address(ip)
        if addr.version != 4 or count <= 0:
            return None
        item = Announcement(ns, dev, addr, count)
        with self._cond:
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), item))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name='garp',
                                                daemon=True)
                self._thread.start()
            self._cond.notify()
        return item

    def _next(self) -> Announcement:
        with self._cond:
            while True:
                wait = self._due[0][0] - time.monotonic() if self._due else None
                if wait is not None and wait <= 0:
                    return heapq.heappop(self._due)[2]
                self._cond.wait(wait)

    def _run(self) -> None:
        while True:
            item = self._next()
            try:
                self._send(item.ns, item.dev, item.ip)
                item.left -= 1
            except Exception as exc:  # noqa: BLE001 - the device or namespace went away
                LOG.warning('%s', exc)
                item.left = 0
            if item.left > 0:
                with self._cond:
                    heapq.heappush(self._due, (time.monotonic() + self.interval,
                                               next(self._order), item))
            else:
                item.done.set()


ANNOUNCER = Announcer()
