"""Member actions and sub-collections: router interfaces and agent scheduling."""

from __future__ import annotations

import flask

from agent.controller import exceptions
from agent.controller.api import body as bodies
from agent.controller.api import query as queries
from agent.controller.api.http import context_of, json_response


def _as_collection(result, plural):
    """Plugin scheduler listings may return a list or Neutron's ``{plural: [...]}``."""
    if isinstance(result, dict) and plural in result:
        return list(result[plural])
    return list(result)


def register_router_actions(bp: flask.Blueprint, plugin):
    def interface_view(id, action):
        doc = bodies.plain_object(bodies.load_json(flask.request.get_data()),
                                  f'router {action}')
        result = getattr(plugin, action)(context_of(flask.request), id, doc)
        return json_response(result)

    bp.add_url_rule('/routers/<id>/add_router_interface', 'add_router_interface',
                    interface_view, methods=['PUT'],
                    defaults={'action': 'add_router_interface'})
    bp.add_url_rule('/routers/<id>/remove_router_interface', 'remove_router_interface',
                    interface_view, methods=['PUT'],
                    defaults={'action': 'remove_router_interface'})


# (url, endpoint, plugin method, response collection)
_SCHEDULER_LISTS = (
    ('/agents/<id>/dhcp-networks', 'dhcp_networks', 'list_networks_on_dhcp_agent',
     'networks'),
    ('/agents/<id>/l3-routers', 'l3_routers', 'list_routers_on_l3_agent', 'routers'),
    ('/networks/<id>/dhcp-agents', 'dhcp_agents', 'list_dhcp_agents_hosting_network',
     'agents'),
    ('/routers/<id>/l3-agents', 'l3_agents', 'list_l3_agents_hosting_router', 'agents'),
)

# Manual (re)scheduling, served when the Plugin offers it:
# (url, endpoint, plugin method, body key, http method)
_SCHEDULER_CHANGES = (
    ('/agents/<id>/dhcp-networks', 'add_dhcp_network', 'add_network_to_dhcp_agent',
     'network_id', 'POST'),
    ('/agents/<id>/dhcp-networks/<item_id>', 'remove_dhcp_network',
     'remove_network_from_dhcp_agent', None, 'DELETE'),
    ('/agents/<id>/l3-routers', 'add_l3_router', 'add_router_to_l3_agent',
     'router_id', 'POST'),
    ('/agents/<id>/l3-routers/<item_id>', 'remove_l3_router',
     'remove_router_from_l3_agent', None, 'DELETE'),
)


def register_scheduler_views(bp: flask.Blueprint, plugin):
    for url, endpoint, method, plural in _SCHEDULER_LISTS:
        def list_view(id, _method=method, _plural=plural):
            q = queries.parse_list_query(flask.request.args)
            items = _as_collection(
                getattr(plugin, _method)(context_of(flask.request), id), _plural)
            return json_response({_plural: [queries.project(i, q.fields)
                                             for i in items]})
        bp.add_url_rule(url, endpoint, list_view, methods=['GET'])

    for url, endpoint, method, key, verb in _SCHEDULER_CHANGES:
        if not hasattr(plugin, method):
            continue
        if verb == 'POST':
            def add_view(id, _method=method, _key=key):
                doc = bodies.plain_object(bodies.load_json(flask.request.get_data()),
                                          _method)
                if _key not in doc:
                    raise exceptions.BadRequest(f"'{_key}' is required in the body")
                getattr(plugin, _method)(context_of(flask.request), id, doc[_key])
                # Neutron answers with what its plugin returned, None, as JSON:
                # openstacksdk and openstackclient parse the body.
                return json_response(None, 201)
            bp.add_url_rule(url, endpoint, add_view, methods=['POST'])
        else:
            def remove_view(id, item_id, _method=method):
                getattr(plugin, _method)(context_of(flask.request), id, item_id)
                return flask.Response(status=204)
            bp.add_url_rule(url, endpoint, remove_view, methods=['DELETE'])
