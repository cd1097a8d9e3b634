"""Small HTTP helpers shared by the API modules: caller context and JSON responses."""

from __future__ import annotations

import json

import flask

from agent.controller.context import Context


def context_of(request) -> Context:
    """No-auth: ``X-Project-Id`` (or ``X-Tenant-Id``) sets the project; admin otherwise.

    Tokens are ignored.  A project-scoped caller is an admin only when
    ``X-Roles`` lists ``admin``.
    """
    project = request.headers.get('X-Project-Id') or request.headers.get('X-Tenant-Id')
    if not project:
        return Context.admin()
    roles = {r.strip().lower() for r in request.headers.get('X-Roles', '').split(',')}
    return Context(project_id=project, is_admin='admin' in roles)


def json_response(doc, status=200):
    return flask.Response(json.dumps(doc), status=status, mimetype='application/json')
