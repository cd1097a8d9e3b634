"""Ids and owners of new resources."""

from __future__ import annotations

from agent.common import names
from agent.controller import validation as v
from agent.controller.context import Context


def new_id(body: dict) -> str:
    """The id the body asks for (admins restoring state may), else a new UUID."""
    if body.get('id'):
        return names.validate_uuid(body['id'], 'id') if names.is_uuid(body['id']) else \
            _bad_id(body['id'])
    return names.new_uuid()


def _bad_id(value):
    raise v.invalid('id', f'{value!r} is not a valid UUID')


def owner_project(ctx: Context, body: dict) -> str | None:
    """project_id (or tenant_id) from the body for admins; the caller's project otherwise."""
    asked = (v.parse_string(body.get('project_id'), 'project_id')
             or v.parse_string(body.get('tenant_id'), 'tenant_id'))
    if asked and asked != ctx.project_id and not ctx.is_admin:
        raise v.invalid('project_id', f'{asked!r}: only admins may create resources '
                                      f'for another project')
    return asked or ctx.project_id
