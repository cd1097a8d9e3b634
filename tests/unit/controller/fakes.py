"""Stand-ins for the controller's Plugin: in memory for the API's unit tests
(:class:`FakePlugin`), recording for the RPC endpoints' tests (:class:`RecordingPlugin`)."""

import threading
import uuid

from agent.controller import exceptions

_NOT_FOUND = {
    'network': exceptions.NetworkNotFound, 'subnet': exceptions.SubnetNotFound,
    'port': exceptions.PortNotFound, 'router': exceptions.RouterNotFound,
    'floatingip': exceptions.FloatingIPNotFound, 'agent': exceptions.AgentNotFound,
}


class FakePlugin:
    def __init__(self):
        self.rows = {kind: {} for kind in _NOT_FOUND}
        self.calls = []
        self.scheduled = []

    def _create(self, kind, ctx, body):
        if kind == 'network' and 'name' in body and not isinstance(body['name'], str):
            raise exceptions.InvalidInput("network: 'name' must be a string")
        if body.get('fail'):
            raise exceptions.IpAddressGenerationFailure(
                'No more IP addresses available on network x.')
        item = {'id': str(uuid.uuid4()), 'project_id': ctx.project_id or 'admin-project',
                'admin_state_up': True, **body}
        self.rows[kind][item['id']] = item
        return dict(item)

    def _get(self, kind, ctx, id, fields=None):
        try:
            item = self.rows[kind][id]
        except KeyError:
            raise _NOT_FOUND[kind](f'{kind.capitalize()} {id} could not be found.') from None
        return dict(item)

    def _list(self, kind, ctx, filters=None, fields=None):
        self.calls.append((f'get_{kind}s', filters, fields))
        return [dict(i) for i in self.rows[kind].values()
                if all(i.get(k) in v for k, v in (filters or {}).items())]

    def _update(self, kind, ctx, id, body):
        self._get(kind, ctx, id)
        self.rows[kind][id].update(body)
        return dict(self.rows[kind][id])

    def _delete(self, kind, ctx, id):
        self._get(kind, ctx, id)
        del self.rows[kind][id]

    def __getattr__(self, name):
        for prefix, fn in (('create_', self._create), ('update_', self._update),
                           ('delete_', self._delete), ('get_', None)):
            if name.startswith(prefix):
                kind = name[len(prefix):]
                if prefix == 'get_':
                    if kind.endswith('s') and kind[:-1] in self.rows:
                        return lambda *a, **k: self._list(kind[:-1], *a, **k)
                    fn = self._get
                if kind in self.rows:
                    return lambda *a, **k: fn(kind, *a, **k)
        raise AttributeError(name)

    def add_router_interface(self, ctx, router_id, body):
        self._get('router', ctx, router_id)
        return {'id': router_id, 'subnet_id': body.get('subnet_id'), 'port_id': 'p1'}

    def remove_router_interface(self, ctx, router_id, body):
        return self.add_router_interface(ctx, router_id, body)

    # Manual scheduling: recorded as (method, agent, network or router).
    def add_network_to_dhcp_agent(self, ctx, agent_id, network_id):
        self.scheduled.append(('add_network_to_dhcp_agent', agent_id, network_id))

    def remove_network_from_dhcp_agent(self, ctx, agent_id, network_id):
        self.scheduled.append(('remove_network_from_dhcp_agent', agent_id, network_id))

    def add_router_to_l3_agent(self, ctx, agent_id, router_id):
        self.scheduled.append(('add_router_to_l3_agent', agent_id, router_id))

    def remove_router_from_l3_agent(self, ctx, agent_id, router_id):
        self.scheduled.append(('remove_router_from_l3_agent', agent_id, router_id))

    def list_networks_on_dhcp_agent(self, ctx, agent_id):
        return list(self.rows['network'].values())

    def list_routers_on_l3_agent(self, ctx, agent_id):
        return {'routers': list(self.rows['router'].values())}

    def list_dhcp_agents_hosting_network(self, ctx, network_id):
        return list(self.rows['agent'].values())

    def list_l3_agents_hosting_router(self, ctx, router_id):
        return list(self.rows['agent'].values())


class RecordingPlugin:
    """Stands in for the Plugin behind the RPC endpoints: records every call as
    ``(name, args, kwargs)`` in ``calls``; answers the next of ``in_turn[name]``
    while there is one (e.g. ``report_state``: 'new', 'revived', 'alive'), else
    ``answers[name]``, else ``default``.  Thread-safe: RPC servers call it from
    their threads; :meth:`next_call` waits for the next call."""

    def __init__(self, answers=None, default=None):
        self.calls = []
        self.answers = dict(answers or {})
        self.in_turn = {}
        self.default = default
        self._cond = threading.Condition()
        self._taken = 0

    def next_call(self, timeout):
        """The oldest call not returned yet, waiting up to ``timeout`` seconds for it."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.calls) > self._taken, timeout):
                raise AssertionError(f'no plugin call within {timeout} s')
            self._taken += 1
            return self.calls[self._taken - 1]

    def __getattr__(self, name):
        if name.startswith('_'):
            raise AttributeError(name)

        def method(*args, **kwargs):
            with self._cond:
                self.calls.append((name, args, kwargs))
                self._cond.notify_all()
                if self.in_turn.get(name):
                    return self.in_turn[name].pop(0)
                return self.answers.get(name, self.default)
        return method
