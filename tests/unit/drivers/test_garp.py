"""The gratuitous-ARP frame and the announcer's repeats (the send is injected)."""

import ipaddress
import threading
import time

from agent.drivers import garp
from agent.drivers.state import DriverError

MAC = bytes.fromhex('fa163e000102')


def test_frame_is_what_arping_u_sends():
    ip = ipaddress.IPv4Address('198.51.100.10')
    f = garp.frame(MAC, ip)
    assert len(f) == 42
    assert f[:12] == b'\xff' * 6 + MAC and f[12:14] == b'\x08\x06'
    assert f[14:22] == bytes.fromhex('0001080006040001')        # Ethernet/IPv4, request
    assert f[22:32] == MAC + ip.packed                            # sender
    assert f[32:42] == b'\xff' * 6 + ip.packed                    # target: the same IP


def _recording():
    sent, lock = [], threading.Lock()

    def send(ns, dev, ip):
        with lock:
            sent.append((ns, dev, str(ip)))
    return sent, send


def test_each_address_is_announced_count_times():
    sent, send = _recording()
    announcer = garp.Announcer(interval=0.01, send=send)
    first = announcer.announce('qrouter-x', 'qg-1', '198.51.100.10', count=3)
    second = announcer.announce('qrouter-x', 'qr-1', '10.0.0.1/24', count=1)
    assert first.join(5) and second.join(5)
    assert sent.count(('qrouter-x', 'qg-1', '198.51.100.10')) == 3
    assert sent.count(('qrouter-x', 'qr-1', '10.0.0.1')) == 1
    assert len(sent) == 4


def test_ipv6_and_zero_count_announce_nothing():
    sent, send = _recording()
    announcer = garp.Announcer(interval=0.01, send=send)
    assert announcer.announce('ns', 'qg-1', '2001:db8::1') is None
    assert announcer.announce('ns', 'qg-1', '198.51.100.10', count=0) is None
    assert sent == []


def test_a_failed_send_ends_that_announcement_only():
    sent, record = _recording()

    def send(ns, dev, ip):
        if dev == 'qg-gone':
            raise DriverError('device qg-gone: gone')
        record(ns, dev, ip)
    announcer = garp.Announcer(interval=0.01, send=send)
    gone = announcer.announce('ns', 'qg-gone', '198.51.100.9', count=3)
    kept = announcer.announce('ns', 'qg-1', '198.51.100.10', count=2)
    assert gone.join(5) and kept.join(5)
    assert sent == [('ns', 'qg-1', '198.51.100.10')] * 2


def test_a_namespaces_frames_due_together_go_in_one_visit(monkeypatch):
    visits, lock = [], threading.Lock()

    def send_all(ns, items):
        with lock:
            visits.append((ns, sorted(str(ip) for _, ip in items)))
        return [None] * len(items)
    monkeypatch.setattr(garp, 'send_all', send_all)
    announcer = garp.Announcer(interval=0.05)
    with announcer._cond:       # queued together before the thread sends any
        announcer._push('qrouter-a', [garp.Announcement('qrouter-a', 'qr-1', '10.0.0.1', 2),
                                      garp.Announcement('qrouter-a', 'qg-1', '10.9.0.1', 2)],
                        time.monotonic())
    last = announcer.announce('qrouter-a', 'qg-1', '10.9.0.2', count=2)
    other = announcer.announce('qrouter-b', 'qg-2', '10.9.0.3', count=2)
    assert last.join(5) and other.join(5)
    a = [ips for ns, ips in visits if ns == 'qrouter-a']
    assert a == [['10.0.0.1', '10.9.0.1', '10.9.0.2']] * 2         # 2 visits, not 6
    assert [ips for ns, ips in visits if ns == 'qrouter-b'] == [['10.9.0.3']] * 2
