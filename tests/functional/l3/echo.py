"""A tiny UDP service telling a client its source address, for NAT checks.

    python echo.py serve PORT          # answers every datagram with the peer's IP
    python echo.py ask HOST PORT       # prints the answer (exit 1 on timeout)

Run inside test namespaces with ``ip netns exec``.
"""

import socket
import sys


def serve(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('0.0.0.0', port))
    print('ready', flush=True)
    while True:
        _, peer = sock.recvfrom(512)
        sock.sendto(peer[0].encode(), peer)


def ask(host: str, port: int, timeout: float = 2.0, tries: int = 3) -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    for _ in range(tries):
        sock.sendto(b'who am i', (host, port))
        try:
            data, _ = sock.recvfrom(512)
        except socket.timeout:
            continue
        print(data.decode())
        return 0
    return 1


if __name__ == '__main__':
    if sys.argv[1] == 'serve':
        serve(int(sys.argv[2]))
    else:
        sys.exit(ask(sys.argv[2], int(sys.argv[3])))
