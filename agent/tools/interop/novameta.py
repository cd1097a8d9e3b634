"""A stand-in for Nova's metadata API, as the metadata agents under test call it.

``python -m agent.tools.interop.novameta PORT SECRET INSTANCES_JSON``: serves on
127.0.0.1:PORT.  Every request must carry ``X-Instance-ID``, ``X-Tenant-ID`` and
``X-Instance-ID-Signature`` = hex HMAC-SHA256 of the instance id keyed with the
shared secret (what Nova checks); otherwise 403.  A known instance
(``{instance id: name}`` in the JSON file, re-read on each request) gets its
``meta_data.json`` from ``/openstack/latest/meta_data.json``.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import sys


def signature(secret: str, instance_id: str) -> str:
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


def answer(secret: str, instances: dict, path: str, headers) -> tuple[int, str]:
    """(HTTP status, body) for one request (pure)."""
    instance = headers.get('X-Instance-ID') or ''
    tenant = headers.get('X-Tenant-ID') or ''
    signed = headers.get('X-Instance-ID-Signature') or ''
    if not instance or not tenant:
        return 400, 'X-Instance-ID and X-Tenant-ID are required\n'
    if not hmac.compare_digest(signed, signature(secret, instance)):
        return 403, f'bad signature for instance {instance}\n'
    if instance not in instances:
        return 404, f'no instance {instance}\n'
    if path.rstrip('/') == '/openstack/latest/meta_data.json':
        return 200, json.dumps({'uuid': instance, 'name': instances[instance],
                                'hostname': instances[instance], 'project_id': tenant})
    if path.rstrip('/') in ('', '/openstack', '/latest/meta-data'):
        return 200, 'latest\n'
    return 404, f'no {path}\n'


def main(argv) -> int:
    port, secret, instances_file = int(argv[0]), argv[1], argv[2]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def do_GET(self):  # noqa: N802 - the http.server API
            with open(instances_file) as f:
                instances = json.load(f)
            status, body = answer(secret, instances, self.path.split('?', 1)[0], self.headers)
            data = body.encode()
            self.send_response(status)
            self.send_header('Content-Type', 'application/json' if status == 200
                             else 'text/plain')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):
            print(f'{self.headers.get("X-Instance-ID")} {fmt % args}', flush=True)

    server = http.server.ThreadingHTTPServer(('127.0.0.1', port), Handler)
    print(f'nova metadata stand-in on 127.0.0.1:{port}', flush=True)
    server.serve_forever()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
