"""The Flask application serving Neutron's v2.0 REST API over a Plugin."""

from __future__ import annotations

import logging
import time
import uuid

import flask
from oslo_context import context as oslo_context
from werkzeug import exceptions as http_exc

from agent.controller import exceptions
from agent.controller.api import actions, errors, extensions, resources
from agent.controller.api.instances import register_instance_views
from agent.controller.api.http import json_response

LOG = logging.getLogger(__name__)
MAX_BODY_BYTES = 1024 * 1024          # larger bodies: 413 (Neutron: 112 KiB)
HEALTHCHECK_PATH = '/healthcheck'


class ApiMiddleware:
    """Outermost WSGI layer: ``.json`` suffixes, request ids and the access log.

    Each request gets Neutron's ``req-<uuid>`` id, returned in
    ``X-OpenStack-Request-ID`` and put in oslo.log's context (a thread-local
    RequestContext, as Neutron's requests have), so every line logged while
    serving it carries the id; the access line is logged at INFO once the body
    is sent, in the words of Neutron's WSGI server (``wsgi_log_format``).
    """

    def __init__(self, app, healthcheck=None, settle=None):
        self.app = app
        self.healthcheck = healthcheck
        # Before the answer: wait (bounded) for the request's notifications to
        # go out, as Neutron casts before it answers (agent.controller.delivery).
        self.settle = settle

    def __call__(self, environ, start_response):
        path = environ.get('PATH_INFO', '')
        if path.endswith('.json'):
            environ['PATH_INFO'] = path = path[:-len('.json')]
        request_id = 'req-' + str(uuid.uuid4())
        oslo_context.RequestContext(request_id=request_id, overwrite=True)
        started = time.monotonic()
        seen = {}

        def start(status, headers, exc_info=None):
            seen['status'] = status.split(' ', 1)[0]
            headers.append(('X-OpenStack-Request-ID', request_id))
            return start_response(status, headers, exc_info)

        def log(length):
            LOG.info('%s "%s" status: %s  len: %s time: %.7f',
                     environ.get('REMOTE_ADDR', '-'), _request_line(environ),
                     seen.get('status', '-'), length, time.monotonic() - started)

        app = self.app
        if path == HEALTHCHECK_PATH and self.healthcheck is not None:
            app = self.healthcheck
        try:
            body = app(environ, start)
        except Exception:
            seen.setdefault('status', '500')
            log(0)
            if self.settle is not None:
                self.settle(0)
            raise
        if self.settle is not None:
            self.settle()
        return _LoggedBody(body, log)


def _request_line(environ) -> str:
    query = environ.get('QUERY_STRING')
    return '%s %s%s %s' % (environ.get('REQUEST_METHOD'),
                           environ.get('SCRIPT_NAME', '') + environ.get('PATH_INFO', ''),
                           '?' + query if query else '',
                           environ.get('SERVER_PROTOCOL', 'HTTP/1.1'))


class _LoggedBody:
    """A response body that counts its bytes and logs the access line when the
    server closes it (WSGI calls ``close`` once the response is sent or dropped)."""

    def __init__(self, body, log):
        self.body, self.log, self.length = body, log, 0

    def __iter__(self):
        for chunk in self.body:
            self.length += len(chunk)
            yield chunk

    def close(self):
        try:
            close = getattr(self.body, 'close', None)
            if close is not None:
                close()
        finally:
            self.log(self.length)


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


def _unimplemented_view(collection, rest=None):
    alias = extensions.UNIMPLEMENTED[collection]
    raise exceptions.ExtensionNotImplemented(
        f"The resource could not be found: /v2.0/{collection} belongs to Neutron's "
        f"'{alias}' extension, which this controller does not implement "
        '(GET /v2.0/extensions lists what it does).')


def _tags_view(collection, id, tag=None):
    raise exceptions.ExtensionNotImplemented(
        f'The resource could not be found: tags of {collection} belong to Neutron\'s '
        "'standard-attr-tag' extension, which this controller does not implement "
        '(GET /v2.0/extensions lists what it does).')


def _register_unimplemented(bp):
    methods = ['GET', 'POST', 'PUT', 'DELETE']
    for collection in extensions.UNIMPLEMENTED:
        for rule in (f'/{collection}', f'/{collection}/<path:rest>'):
            bp.add_url_rule(rule, f'unimplemented {rule}', _unimplemented_view,
                            methods=methods, defaults={'collection': collection})
    for collection in extensions.TAGGED:
        for rule in (f'/{collection}/<id>/tags', f'/{collection}/<id>/tags/<tag>'):
            bp.add_url_rule(rule, f'tags {rule}', _tags_view, methods=methods,
                            defaults={'collection': collection})


def healthcheck_app(conf, application):
    """oslo.middleware's Healthcheck application, mounted at /healthcheck as in
    Neutron's api-paste.ini, with its defaults (agent.conf.healthcheck);
    ``[healthcheck]`` options (``backends``, ``disable_by_file_path``,
    ``detailed``, ...) come from ``conf``.  It answers
    without the database or the plugin; requests it declines (outside
    ``allowed_source_ranges``) go on to ``application``."""
    from oslo_middleware import healthcheck

    from agent.conf import healthcheck as healthcheck_conf
    healthcheck_conf.set_defaults()
    return healthcheck.Healthcheck(application, conf)


def create_app(plugin, conf=None):
    """A WSGI application serving the v2.0 API of ``plugin`` (and /healthcheck,
    configured by ``conf``, when given)."""
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
    _register_unimplemented(bp)
    app.register_blueprint(bp)
    app.add_url_rule('/', 'versions', _versions_view, methods=['GET'])

    app.register_error_handler(exceptions.NeutronError, errors.from_neutron_error)
    app.register_error_handler(http_exc.HTTPException, errors.from_http_exception)
    app.register_error_handler(Exception, errors.from_unexpected)
    health = healthcheck_app(conf, app.wsgi_app) if conf is not None else None
    app.wsgi_app = ApiMiddleware(app.wsgi_app, health,
                                 getattr(getattr(plugin, 'notifier', None), 'wait_sent', None))
    return app
