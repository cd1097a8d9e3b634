"""The ``instances`` extension: per-instance metadata keyed by device_id (issue 5).

    PUT    /v2.0/instances/<device_id>   {"instance": {...}}   create (201) or update
    GET    /v2.0/instances/<device_id>                         {"instance": {...}}
    GET    /v2.0/instances                                     {"instances": [...]}
    DELETE /v2.0/instances/<device_id>                         204

``user_data`` is base64 in both directions; ``public_keys`` is ``{name: key}``.
See :mod:`agent.controller.instances` for the fields and their checks.
"""

from __future__ import annotations

import flask

from agent.controller.api import body as bodies
from agent.controller.api import query as queries
from agent.controller.api.http import context_of, json_response


def register_instance_views(bp: flask.Blueprint, plugin) -> None:
    def put_view(device_id):
        doc = bodies.load_json(flask.request.get_data())
        item, created = plugin.set_instance(context_of(flask.request), device_id,
                                            bodies.unwrap_one(doc, 'instance'))
        return json_response({'instance': item}, 201 if created else 200)

    def show_view(device_id):
        fields = queries.parse_list_query(flask.request.args).fields
        item = plugin.get_instance(context_of(flask.request), device_id)
        return json_response({'instance': queries.project(item, fields)})

    def list_view():
        fields = queries.parse_list_query(flask.request.args).fields
        items = plugin.get_instances(context_of(flask.request))
        return json_response({'instances': [queries.project(i, fields) for i in items]})

    def delete_view(device_id):
        plugin.delete_instance(context_of(flask.request), device_id)
        return flask.Response(status=204)

    bp.add_url_rule('/instances', 'list_instances', list_view, methods=['GET'])
    bp.add_url_rule('/instances/<device_id>', 'set_instance', put_view, methods=['PUT'])
    bp.add_url_rule('/instances/<device_id>', 'show_instance', show_view, methods=['GET'])
    bp.add_url_rule('/instances/<device_id>', 'delete_instance', delete_view,
                    methods=['DELETE'])
