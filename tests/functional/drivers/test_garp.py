"""Gratuitous ARP from raw frames: what a neighbour on the link receives."""

import ipaddress
import socket
import struct
import subprocess
import threading

from agent.drivers import garp, netns

ETH_P_ALL = 0x0003


def _receive_arp(_ipr, dev, timeout):
    """On a thread inside the namespace: the first ARP frame seen on ``dev``."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as s:
        s.bind((dev, ETH_P_ALL))
        s.settimeout(timeout)
        while True:
            data = s.recv(2048)
            if data[12:14] == struct.pack('!H', garp.ETH_P_ARP):
                return data


def test_announcements_reach_the_neighbour(make_namespace):
    sender, peer = make_namespace('qrouter-'), make_namespace('qrouter-')
    subprocess.run(['ip', 'link', 'add', 'qg-garp-test', 'netns', sender, 'type', 'veth',
                    'peer', 'name', 'peer-garp', 'netns', peer], check=True)
    for ns, dev in ((sender, 'qg-garp-test'), (peer, 'peer-garp')):
        subprocess.run(['ip', '-n', ns, 'link', 'set', dev, 'up'], check=True)
    mac = subprocess.run(['ip', '-n', sender, '-br', 'link', 'show', 'qg-garp-test'],
                         check=True, capture_output=True, text=True).stdout.split()[2]
    listener = []
    thread = threading.Thread(target=lambda: listener.append(
        netns.run_in(peer, _receive_arp, None, 'peer-garp', 10)))
    thread.start()
    announcement = garp.Announcer(interval=0.05).announce(sender, 'qg-garp-test',
                                                          '198.51.100.77', count=2)
    thread.join(15)
    assert announcement.join(5) and not announcement.is_alive()
    mac_bytes = bytes.fromhex(mac.replace(':', ''))
    assert listener == [garp.frame(mac_bytes, ipaddress.IPv4Address('198.51.100.77'))]
    data = listener[0]
    assert data[:6] == b'\xff' * 6 and data[6:12] == mac_bytes
    assert struct.unpack('!H', data[20:22]) == (1,)                  # a request
    assert data[28:32] == data[38:42] == ipaddress.IPv4Address('198.51.100.77').packed


def test_a_missing_device_ends_the_announcement(make_namespace):
    ns = make_namespace('qrouter-')
    announcement = garp.Announcer(interval=0.05).announce(ns, 'qg-nothere', '198.51.100.7')
    assert announcement.join(5)
