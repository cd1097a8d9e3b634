"""Query strings of list requests: filters, fields, sorting and pagination.

Neutron's list calls take ``?name=x&name=y`` (any of the values matches),
``fields=`` (repeatable), ``sort_key``/``sort_dir`` (repeatable, paired) and
``limit``/``marker``.  Everything here is pure: a ``MultiDict``-like mapping
(anything with ``getlist`` and ``keys``) in, a :class:`ListQuery` out.
"""

from __future__ import annotations

import dataclasses

from agent.controller import exceptions

# Query parameters that are not filters.
CONTROL_PARAMS = frozenset({'fields', 'sort_key', 'sort_dir', 'limit', 'marker',
                            'page_reverse', 'verbose'})

BOOLEAN_FIELDS = frozenset({
    'admin_state_up', 'shared', 'router:external', 'enable_dhcp', 'alive',
    'port_security_enabled', 'is_default', 'ha', 'distributed',
})
INTEGER_FIELDS = frozenset({'mtu', 'ip_version', 'provider:segmentation_id'})

_TRUE = frozenset({'true', '1', 'yes', 'on'})
_FALSE = frozenset({'false', '0', 'no', 'off'})


def convert_value(field: str, value: str):
    """The typed value of one filter: booleans and integers by field name."""
    if field in BOOLEAN_FIELDS:
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise exceptions.InvalidInput(
            f"filter '{field}': '{value}' is not a boolean (use true or false)")
    if field in INTEGER_FIELDS:
        try:
            return int(value)
        except ValueError:
            raise exceptions.InvalidInput(
                f"filter '{field}': '{value}' is not an integer") from None
    return value


@dataclasses.dataclass(frozen=True)
class ListQuery:
    filters: dict
    fields: tuple = ()
    sort: tuple = ()          # ((key, ascending), ...)
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False

    @property
    def paginated(self):
        return self.limit is not None or self.marker is not None


def parse_list_query(args, known_fields=None) -> ListQuery:
    """Turn request arguments into filters and list options.

    ``known_fields``, when given, rejects filters and sort keys that are not
    attributes of the resource, naming the offending parameters (400, as
    Neutron's ``filter-validation`` does: a filter that would match nothing
    or everything must not pass for an answer).
    """
    filters = {}
    invalid = [key for key in args.keys()
               if key not in CONTROL_PARAMS and known_fields is not None
               and key not in known_fields]
    if invalid:
        # Neutron's words (filter-validation), a Python list included.
        raise exceptions.HTTPBadRequest(f'{invalid} is invalid attribute for filtering')
    for key in args.keys():
        if key in CONTROL_PARAMS:
            continue
        values = [v for v in args.getlist(key)]
        filters[key] = [convert_value(key, v) for v in values]
    fields = tuple(dict.fromkeys(f for v in args.getlist('fields')
                                 for f in v.split(',') if f))
    keys = args.getlist('sort_key')
    dirs = args.getlist('sort_dir')
    if dirs and len(dirs) != len(keys):
        raise exceptions.BadRequest(
            'The number of sort_keys and sort_dirs must be the same')
    sort = []
    for i, key in enumerate(keys):
        if known_fields is not None and key not in known_fields:
            raise exceptions.BadRequest(f"'{key}' is not a valid sort_key")
        direction = dirs[i].lower() if dirs else 'asc'
        if direction not in ('asc', 'desc'):
            raise exceptions.BadRequest(
                f"sort_dir '{dirs[i]}' is not valid: use asc or desc")
        sort.append((key, direction == 'asc'))
    limit = None
    raw_limit = args.getlist('limit')
    if raw_limit:
        try:
            limit = int(raw_limit[-1])
        except ValueError:
            raise exceptions.BadRequest(
                f"limit '{raw_limit[-1]}' is not an integer") from None
        if limit < 0:
            raise exceptions.BadRequest(f"limit {limit} must be >= 0")
        limit = limit or None          # Neutron: limit=0 means no limit
    markers = args.getlist('marker')
    reverse = args.getlist('page_reverse')
    return ListQuery(filters=filters, fields=fields, sort=tuple(sort), limit=limit,
                     marker=markers[-1] if markers else None,
                     page_reverse=bool(reverse) and convert_value(
                         'admin_state_up', reverse[-1]))


def _sort_value(value):
    # None sorts first; mixed types compare by their text.
    return (value is not None, str(value) if not isinstance(value, (int, float))
            else value)


def sort_items(items, sort):
    """Sort dicts by ``((key, ascending), ...)``; ties keep id order."""
    result = sorted(items, key=lambda i: str(i.get('id', '')))
    for key, ascending in reversed(sort):
        result.sort(key=lambda i: _sort_value(i.get(key)), reverse=not ascending)
    return result


def paginate(items, query: ListQuery):
    """The page after ``marker`` (before it with page_reverse), and whether more follow."""
    if query.marker is not None:
        ids = [i.get('id') for i in items]
        if query.marker not in ids:
            raise exceptions.NotFound(f'Marker {query.marker} could not be found')
        pos = ids.index(query.marker)
        items = items[:pos] if query.page_reverse else items[pos + 1:]
    if query.limit is None:
        return items, False
    if query.page_reverse:
        return items[-query.limit:], len(items) > query.limit
    return items[:query.limit], len(items) > query.limit


def project(item: dict, fields) -> dict:
    """Only ``fields`` of ``item`` (all of it when no fields were asked for)."""
    if not fields:
        return item
    return {f: item[f] for f in fields if f in item}


def matches(item: dict, filters: dict) -> bool:
    """Whether ``item`` passes every filter (any listed value of a field matches)."""
    return all(item.get(field) in values for field, values in filters.items())
