"""The Flask application serving Neutron's v2.0 REST API over a Plugin."""

from __future__ import annotations

import logging
import time
import uuid

import flask
from werkzeug import exceptions as http_exc

from agent.controller import exceptions
from agent.controller.api import actions, errors, extensions, resources
from agent.controller.api.instances import register_instance_views
from agent.controller.api.http import json_response

LOG = logging.getLogger(__name__)
MAX_BODY_BYTES = 1024 * 1024          # larger bodies: 413 (Neutron: 112 KiB)


class ApiMiddleware:
    """Outermost WSGI layer: ``.json`` suffixes, request ids and the access log.

    Every request is logged at debug with method, path, status and duration.
    """

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get('PATH_INFO', '')
        if path.endswith('.json'):
            environ['PATH_INFO'] = path = path[:-len('.json')]
        request_id = 'req-' + str(uuid.uuid4())
        started = time.monotonic()
        seen = {}

        def start(status, headers, exc_info=None):
            seen['status'] = status.split(' ', 1)[0]
            headers.append(('X-Openstack-Request-Id', request_id))
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, start)
        finally:
            if LOG.isEnabledFor(logging.DEBUG):
                query = environ.get('QUERY_STRING')
                LOG.debug('%s %s%s %s %.1f ms %s', environ.get('REQUEST_METHOD'), path,
                          '?' + query if query else '', seen.get('status', '-'),
                          (time.monotonic() - started) * 1000.0, request_id)


def _versions_view():
    href = flask.request.host_url + 'v2.0/'
    return json_response({'versions': [
        {'id': 'v2.0', 'status': 'CURRENT', 'links': [{'href': href, 'rel': 'self'}]}]})


def _resources_view():
    base = flask.request.host_url + 'v2.0/'
    return json_response({'resources': [
        {'name': res.singular, 'collection': res.plural,
         'links': [{'href': base + res.plural, 'rel': 'self'}]}
        for res in resources.COLLECTIONS]})


def _extensions_view():
    return json_response({'extensions': extensions.extensions()})


def _extension_view(alias):
    ext = extensions.extension(alias)
    if ext is None:
        raise exceptions.NotFound(f'Extension with alias {alias} does not exist')
    return json_response({'extension': ext})


def create_app(plugin):
    """A WSGI application serving the v2.0 API of ``plugin``."""
    app = flask.Flask('netnode-api')
    app.url_map.strict_slashes = False
    app.config['MAX_CONTENT_LENGTH'] = MAX_BODY_BYTES

    bp = flask.Blueprint('v2', __name__, url_prefix='/v2.0')
    bp.add_url_rule('/', 'resources', _resources_view, methods=['GET'])
    bp.add_url_rule('/extensions', 'extensions', _extensions_view, methods=['GET'])
    bp.add_url_rule('/extensions/<alias>', 'extension', _extension_view, methods=['GET'])
    for res in resources.COLLECTIONS:
        resources.register(bp, plugin, res)
    actions.register_router_actions(bp, plugin)
    actions.register_scheduler_views(bp, plugin)
    register_instance_views(bp, plugin)
    app.register_blueprint(bp)
    app.add_url_rule('/', 'versions', _versions_view, methods=['GET'])

    app.register_error_handler(exceptions.NeutronError, errors.from_neutron_error)
    app.register_error_handler(http_exc.HTTPException, errors.from_http_exception)
    app.register_error_handler(Exception, errors.from_unexpected)
    app.wsgi_app = ApiMiddleware(app.wsgi_app)
    return app
