"""Every DHCP server's answer to one DISCOVER: ``python dhcp_offers.py <dev> <mac>
[seconds]`` run inside a probe namespace prints a JSON list of the OFFERs seen
(server id, offered address, mask, router, DNS, lease), one per server.

Raw frames (AF_PACKET) both ways, so the probe needs no address and sees offers
from every server, where a DHCP client takes the first and ignores the rest.
"""

import json
import os
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800
OPTIONS = {1: 'mask', 3: 'router', 6: 'dns', 51: 'lease', 54: 'server'}


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack(f'!{len(data) // 2}H', data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def discover(mac: bytes, xid: int) -> bytes:
    bootp = struct.pack('!BBBBIHH4s4s4s4s16s64s128s', 1, 1, 6, 0, xid, 0, 0x8000,
                        b'\0' * 4, b'\0' * 4, b'\0' * 4, b'\0' * 4, mac.ljust(16, b'\0'),
                        b'', b'')
    bootp += b'\x63\x82\x53\x63' + bytes([53, 1, 1, 55, 4, 1, 3, 6, 51, 255])
    udp = struct.pack('!HHHH', 68, 67, 8 + len(bootp), 0) + bootp
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     b'\0' * 4, b'\xff' * 4)
    ip = ip[:10] + struct.pack('!H', _checksum(ip)) + ip[12:]
    return b'\xff' * 6 + mac + struct.pack('!H', ETH_P_IP) + ip + udp


def parse_offer(frame: bytes, xid: int):
    if len(frame) < 14 + 20 + 8 + 240 or struct.unpack('!H', frame[12:14])[0] != ETH_P_IP:
        return None
    ihl = (frame[14] & 0x0f) * 4
    if frame[14 + 9] != 17:
        return None
    udp = frame[14 + ihl:]
    if struct.unpack('!H', udp[2:4])[0] != 68:
        return None
    bootp = udp[8:]
    if bootp[0] != 2 or struct.unpack('!I', bootp[4:8])[0] != xid:
        return None
    found = {'address': socket.inet_ntoa(bootp[16:20])}
    opts, i = bootp[240:], 0
    while i < len(opts) and opts[i] != 255:
        if opts[i] == 0:
            i += 1
            continue
        code, length = opts[i], opts[i + 1]
        value = opts[i + 2:i + 2 + length]
        if code == 53:
            found['type'] = value[0]
        elif code == 51:
            found['lease'] = struct.unpack('!I', value)[0]
        elif code in OPTIONS:
            found[OPTIONS[code]] = ','.join(socket.inet_ntoa(value[j:j + 4])
                                            for j in range(0, len(value), 4))
        i += 2 + length
    return found if found.get('type') == 2 else None


def main(dev: str, mac_text: str, seconds: float = 3.0) -> list:
    mac = bytes.fromhex(mac_text.replace(':', ''))
    xid = int.from_bytes(os.urandom(4), 'big')
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    sock.bind((dev, ETH_P_IP))
    sock.settimeout(0.2)
    sock.send(discover(mac, xid))
    offers, deadline = {}, time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            frame = sock.recv(4096)
        except socket.timeout:
            continue
        offer = parse_offer(frame, xid)
        if offer:
            offers[offer.get('server')] = offer
    return sorted(offers.values(), key=lambda o: o.get('server', ''))


if __name__ == '__main__':
    print(json.dumps(main(sys.argv[1], sys.argv[2], *map(float, sys.argv[3:]))))
