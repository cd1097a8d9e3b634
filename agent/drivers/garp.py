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


def _send_all_here(ipr: Any, items: list) -> list:
    """On the namespace's worker: one frame per (dev, ip); the error of each or None."""
    errors: list = []
    for dev, ip in items:
        try:
            send_here(ipr, dev, ip)
            errors.append(None)
        except OSError as exc:
            errors.append(DriverError(f'device {dev}: gratuitous ARP for {ip} failed: '
                                      f'{exc}'))
    return errors


def send_all(ns: Optional[str], items: list) -> list:
    """One frame per (dev, ip) in ``ns`` in one visit to its worker; the error of
    each (a DriverError) or None."""
    if LOG.isEnabledFor(logging.DEBUG):     # one record per visit, not per frame
        LOG.debug('%s', '; '.join(' '.join(commands.arping(ns, dev, ip)) if ns else
                                  f'arping -U -I {dev} -c 1 {ip}' for dev, ip in items))
    try:
        return netns.call_netlink(ns, _send_all_here, items)
    except (OSError, DriverError) as exc:
        return [DriverError(f'{ns or "the root namespace"}: gratuitous ARP failed: {exc}')
                for _ in items]


@dataclasses.dataclass(eq=False)
class _Group:
    """Announcements of one namespace due together (one visit to its worker)."""
    due: float
    ns: Optional[str]
    items: list
    sent: bool = False


class Announcer:
    """Sends each announcement's frames ``interval`` seconds apart from one thread.

    The frames of one namespace due within ``GROUP_WINDOW`` of each other go in
    one visit to its netlink worker (an announcement may go that much early,
    never late): a router's four addresses were twelve visits, a thread hand-off
    each, 4 % of the agent's CPU in a cold start of 200 routers (py-spy).
    """

    GROUP_WINDOW = 0.25

    def __init__(self, interval: float = INTERVAL, send=send_once) -> None:
        self.interval = interval
        self._send = send
        self._cond = threading.Condition()
        self._due: list = []
        self._open: dict = {}           # namespace -> its group not sent yet
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
            self._push(ns, [item], time.monotonic() + delay)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name='garp',
                                                daemon=True)
                self._thread.start()
            self._cond.notify()
        return item

    def _push(self, ns: Optional[str], items: list, due: float) -> None:
        """Into the namespace's open group if that is due at most GROUP_WINDOW
        earlier, else a new group (the caller holds the condition)."""
        group = self._open.get(ns)
        if group is not None and not group.sent and due - self.GROUP_WINDOW <= group.due <= due:
            group.items.extend(items)
            return
        group = self._open[ns] = _Group(due, ns, list(items))
        heapq.heappush(self._due, (due, next(self._order), group))

    def _next(self) -> _Group:
        with self._cond:
            while True:
                wait = self._due[0][0] - time.monotonic() if self._due else None
                if wait is not None and wait <= 0:
                    group = heapq.heappop(self._due)[2]
                    group.sent = True
                    if self._open.get(group.ns) is group:
                        del self._open[group.ns]
                    return group
                self._cond.wait(wait)

    def _send_group(self, group: _Group) -> list:
        if self._send is send_once:
            return send_all(group.ns, [(i.dev, i.ip) for i in group.items])
        errors: list = []
        for item in group.items:
            try:
                self._send(item.ns, item.dev, item.ip)
                errors.append(None)
            except Exception as exc:  # noqa: BLE001 - the device or namespace went away
                errors.append(exc)
        return errors

    def _run(self) -> None:
        while True:
            group = self._next()
            again = []
            for item, error in zip(group.items, self._send_group(group)):
                if error is None:
                    item.left -= 1
                else:
                    LOG.warning('%s', error)
                    item.left = 0
                if item.left > 0:
                    again.append(item)
                else:
                    item.done.set()
            if again:
                with self._cond:
                    self._push(group.ns, again, time.monotonic() + self.interval)


ANNOUNCER = Announcer()
