"""Forwarding to an external Nova metadata API, as Neutron's metadata agent does.

The request goes to ``<nova_metadata_protocol>://<host>:<port><path>?<query>``
with ``X-Forwarded-For`` (the instance's address), ``X-Instance-ID`` (the
port's device_id), ``X-Tenant-ID`` (its project) and ``X-Instance-ID-Signature``
(HMAC-SHA256 of the instance id keyed with ``metadata_proxy_shared_secret``, hex),
which Nova checks against its own copy of the secret.  Nova's status codes are
passed on; anything else is a 500, an unreachable Nova a 503.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import http.client
import logging
import ssl

from agent.metadata.documents import Document

LOG = logging.getLogger(__name__)
_PASSED_ON = (200, 400, 403, 404, 409)


def sign_instance_id(secret: str, instance_id: str) -> str:
    """Neutron's ``X-Instance-ID-Signature``: hex HMAC-SHA256 of the id."""
    return hmac.new(secret.encode('utf-8'), instance_id.encode('utf-8'),
                    hashlib.sha256).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class NovaEndpoint:
    host: str
    port: int
    protocol: str = 'http'
    insecure: bool = False
    secret: str = ''
    timeout: float = 10.0

    @classmethod
    def from_conf(cls, conf) -> NovaEndpoint:
        return cls(conf.nova_metadata_host, conf.nova_metadata_port,
                   conf.nova_metadata_protocol, conf.nova_metadata_insecure,
                   conf.metadata_proxy_shared_secret, max(conf.metadata_rpc_timeout, 5.0))


def request_headers(endpoint: NovaEndpoint, remote_ip: str, instance_id: str,
                    project_id: str | None) -> dict[str, str]:
    return {'X-Forwarded-For': remote_ip, 'X-Instance-ID': instance_id,
            'X-Tenant-ID': project_id or '',
            'X-Instance-ID-Signature': sign_instance_id(endpoint.secret, instance_id)}


def forward(endpoint: NovaEndpoint, method: str, path: str, body: bytes | None,
            remote_ip: str, instance_id: str, project_id: str | None) -> Document:
    """One request to Nova; the Document to give the instance."""
    if endpoint.protocol == 'https':
        context = ssl.create_default_context()
        if endpoint.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            endpoint.host, endpoint.port, timeout=endpoint.timeout, context=context)
    else:
        conn = http.client.HTTPConnection(endpoint.host, endpoint.port,
                                          timeout=endpoint.timeout)
    headers = request_headers(endpoint, remote_ip, instance_id, project_id)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        content_type = resp.getheader('Content-Type', 'text/plain')
    except (OSError, http.client.HTTPException) as exc:
        LOG.warning('Nova metadata API %s:%s unreachable: %s', endpoint.host,
                    endpoint.port, exc)
        return Document(503, 'text/plain', b'Remote metadata server unreachable.\n')
    finally:
        conn.close()
    if resp.status == 403:
        LOG.warning('Nova rejected the X-Instance-ID-Signature of %s: check that '
                    'metadata_proxy_shared_secret matches Nova\'s', instance_id)
    if resp.status in _PASSED_ON:
        return Document(resp.status, content_type, data)
    LOG.warning('Nova metadata API answered %s for %s', resp.status, path)
    return Document(500, 'text/plain',
                    b'Remote metadata server experienced an internal server error.\n')
