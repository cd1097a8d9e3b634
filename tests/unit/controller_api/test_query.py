"""Query-string parsing, sorting and pagination (pure)."""

import pytest
from werkzeug.datastructures import MultiDict

from agent.controller import exceptions
from agent.controller.api import query


def parse(pairs):
    return query.parse_list_query(MultiDict(pairs))


def test_filters_fields_and_sort():
    q = parse([('name', 'a'), ('name', 'b'), ('shared', 'False'), ('fields', 'id'),
               ('fields', 'name,cidr'), ('sort_key', 'name'), ('sort_dir', 'desc')])
    assert q.filters == {'name': ['a', 'b'], 'shared': [False]}
    assert q.fields == ('id', 'name', 'cidr')
    assert q.sort == (('name', False),)


@pytest.mark.parametrize('pairs,needle', [
    ([('mtu', 'big')], "'mtu'"),
    ([('limit', 'x')], 'limit'),
    ([('sort_key', 'a'), ('sort_dir', 'up')], 'sort_dir'),
    ([('sort_key', 'a'), ('sort_key', 'b'), ('sort_dir', 'asc')], 'sort_dirs'),
])
def test_bad_query_is_a_bad_request(pairs, needle):
    with pytest.raises(exceptions.BadRequest, match=needle):
        parse(pairs)


def test_paginate_after_marker_and_unknown_marker():
    items = [{'id': str(i)} for i in range(5)]
    page, more = query.paginate(items, parse([('limit', '2'), ('marker', '1')]))
    assert [i['id'] for i in page] == ['2', '3'] and more
    page, more = query.paginate(items, parse([('limit', '2'), ('marker', '3')]))
    assert [i['id'] for i in page] == ['4'] and not more
    with pytest.raises(exceptions.NotFound):
        query.paginate(items, parse([('marker', 'zz')]))


def test_sort_handles_none_and_multiple_keys():
    items = [{'id': '1', 'a': None, 'b': 2}, {'id': '2', 'a': 'x', 'b': 1},
             {'id': '3', 'a': 'x', 'b': 0}]
    assert [i['id'] for i in query.sort_items(items, (('a', True), ('b', True)))] == \
        ['1', '3', '2']
