"""Errors rendered the way Neutron renders them.

Every failure leaves the API as ``{"NeutronError": {"type", "message",
"detail"}}`` with the error's HTTP status, so neutron clients and openstacksdk
show the message and map the type to their own exceptions.
"""

from __future__ import annotations

import json
import logging

from werkzeug import exceptions as http_exc

from agent.controller import exceptions

LOG = logging.getLogger(__name__)

# Werkzeug's HTTP errors (routing, method) under Neutron's type names.
_HTTP_TYPES = {
    400: 'HTTPBadRequest',
    404: 'HTTPNotFound',
    405: 'HTTPMethodNotAllowed',
    413: 'HTTPRequestEntityTooLarge',
    415: 'HTTPUnsupportedMediaType',
}


def error_body(type_: str, message: str) -> dict:
    return {'NeutronError': {'type': type_, 'message': message, 'detail': ''}}


def render(status: int, type_: str, message: str, headers=None):
    """A Flask response tuple carrying a NeutronError document."""
    body = json.dumps(error_body(type_, message))
    hdrs = {'Content-Type': 'application/json'}
    hdrs.update(headers or {})
    return body, status, hdrs


def from_neutron_error(err: exceptions.NeutronError):
    if err.status >= 500:
        LOG.error('%s: %s', err.type, err)
    return render(err.status, err.type, str(err))


def from_http_exception(err: http_exc.HTTPException):
    headers = {}
    if isinstance(err, http_exc.MethodNotAllowed) and err.valid_methods:
        headers['Allow'] = ', '.join(err.valid_methods)
    type_ = _HTTP_TYPES.get(err.code, 'HTTPError')
    message = err.description or err.name
    if err.code == 404 and message == http_exc.NotFound.description:
        message = 'The resource could not be found.'
    return render(err.code or 500, type_, message, headers)


def from_unexpected(err: Exception):
    LOG.exception('Unexpected error in the API: %s', err)
    return render(500, 'HTTPInternalServerError',
                  f'Request failed: internal server error ({type(err).__name__})')
