"""The v2.0 collections: list, create (single and bulk), show, update, delete.

Each collection maps onto the Plugin's ``create_<res>``, ``get_<res>``,
``get_<res>s``, ``update_<res>`` and ``delete_<res>``; this module only does
HTTP: bodies, query strings, status codes and pagination links.
"""

from __future__ import annotations

import dataclasses
import logging
from urllib.parse import urlencode

import flask

from agent.controller import exceptions, wire
from agent.controller.api import body as bodies
from agent.controller.api import query as queries
from agent.controller.api.http import context_of, json_response

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Collection:
    singular: str
    plural: str
    methods: frozenset = frozenset({'list', 'create', 'show', 'update', 'delete'})
    # Shown but never set by a request (Neutron: allow_post and allow_put false):
    # refused, as Neutron does, rather than ignored.
    read_only: tuple = ()


COLLECTIONS = (
    Collection('network', 'networks', read_only=('status', 'subnets')),
    Collection('subnet', 'subnets'),
    Collection('port', 'ports', read_only=('status',)),
    Collection('router', 'routers', read_only=('status',)),
    Collection('floatingip', 'floatingips'),
    Collection('agent', 'agents', frozenset({'list', 'show', 'update', 'delete'})),
)


def list_items(plugin, ctx, res: Collection, args):
    """The ``{"<plural>": [...]}`` document of a list request (with links when paged)."""
    q = queries.parse_list_query(args, wire.FILTERS[res.plural])
    reorder = bool(q.sort) or q.paginated
    plugin_fields = list(q.fields) if q.fields and not reorder else None
    items = getattr(plugin, f'get_{res.plural}')(ctx, filters=q.filters or None,
                                                   fields=plugin_fields)
    doc = {}
    if reorder:
        for key, _ascending in q.sort:
            if items and key not in items[0]:
                raise exceptions.BadRequest(
                    f"'{key}' is not a valid sort_key for {res.plural}")
        items = queries.sort_items(items, q.sort or (('id', True),))
        items, more = queries.paginate(items, q)
        links = _page_links(res, args, items, q, more)
        if links:
            doc[f'{res.plural}_links'] = links
    doc[res.plural] = [queries.project(i, q.fields) for i in items]
    return doc


def _page_links(res, args, items, q, more):
    base = flask.request.base_url
    keep = [(k, v) for k in args.keys() if k not in ('marker', 'page_reverse')
            for v in args.getlist(k)]
    links = []
    if items and (more or (q.page_reverse and q.marker)):
        marker = items[0 if q.page_reverse else -1]['id']
        rel = 'previous' if q.page_reverse else 'next'
        params = keep + [('marker', marker)] + ([('page_reverse', 'True')]
                                                 if q.page_reverse else [])
        links.append({'href': f'{base}?{urlencode(params)}', 'rel': rel})
    if items and q.marker and not q.page_reverse:
        params = keep + [('marker', items[0]['id']), ('page_reverse', 'True')]
        links.append({'href': f'{base}?{urlencode(params)}', 'rel': 'previous'})
    return links


def _check_read_only(res: Collection, item: dict, words: str) -> None:
    for attr in res.read_only:
        if attr in item:
            raise exceptions.HTTPBadRequest(words % attr)


def create_items(plugin, ctx, res: Collection, doc):
    items, bulk = bodies.unwrap_create(doc, res.singular, res.plural)
    for item in items:
        _check_read_only(res, item, "Attribute '%s' not allowed in POST")
    create = getattr(plugin, f'create_{res.singular}')
    created = []
    try:
        for item in items:
            created.append(create(ctx, item))
    except Exception:
        # A bulk request is all or nothing, as in Neutron.
        delete = getattr(plugin, f'delete_{res.singular}')
        for done in reversed(created):
            try:
                delete(ctx, done['id'])
            except Exception:          # noqa: BLE001 - keep the original error
                LOG.exception('Rolling back bulk %s create: cannot delete %s',
                              res.singular, done.get('id'))
        raise
    return {res.plural: created} if bulk else {res.singular: created[0]}


def register(bp: flask.Blueprint, plugin, res: Collection):
    """Add the routes of one collection to the blueprint."""
    collection = f'/{res.plural}'
    member = f'/{res.plural}/<id>'

    if 'list' in res.methods:
        def list_view():
            return json_response(list_items(plugin, context_of(flask.request), res,
                                            flask.request.args))
        bp.add_url_rule(collection, f'list_{res.plural}', list_view, methods=['GET'])

    if 'create' in res.methods:
        def create_view():
            doc = bodies.load_json(flask.request.get_data())
            return json_response(create_items(plugin, context_of(flask.request), res, doc),
                                 201)
        bp.add_url_rule(collection, f'create_{res.plural}', create_view, methods=['POST'])

    if 'show' in res.methods:
        def show_view(id):
            fields = queries.parse_list_query(flask.request.args).fields
            item = getattr(plugin, f'get_{res.singular}')(
                context_of(flask.request), id, fields=list(fields) or None)
            return json_response({res.singular: queries.project(item, fields)})
        bp.add_url_rule(member, f'show_{res.singular}', show_view, methods=['GET'])

    if 'update' in res.methods:
        def update_view(id):
            doc = bodies.load_json(flask.request.get_data())
            changes = bodies.unwrap_one(doc, res.singular)
            _check_read_only(res, changes, 'Cannot update read-only attribute %s')
            item = getattr(plugin, f'update_{res.singular}')(
                context_of(flask.request), id, changes)
            return json_response({res.singular: item})
        bp.add_url_rule(member, f'update_{res.singular}', update_view, methods=['PUT'])

    if 'delete' in res.methods:
        def delete_view(id):
            getattr(plugin, f'delete_{res.singular}')(context_of(flask.request), id)
            return flask.Response(status=204)
        bp.add_url_rule(member, f'delete_{res.singular}', delete_view, methods=['DELETE'])
