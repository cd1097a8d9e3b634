"""How results are printed: aligned tables (default), JSON or bare values."""

from __future__ import annotations

import json

from agent.cli.client import CommandError


def cell(value) -> str:
    """The text of one value; lists become one line per element."""
    if value is None:
        return ''
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, (list, tuple)):
        return '\n'.join(cell(v) for v in value)
    return str(value)


def table(headers, rows) -> str:
    """An aligned ASCII table with a header; multi-line cells span several lines."""
    cells = [[cell(v).split('\n') for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, lines in enumerate(row):
            widths[i] = max(widths[i], *(len(line) for line in lines))
    rule = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'

    def line(values):
        return '| ' + ' | '.join(v.ljust(w) for v, w in zip(values, widths)) + ' |'

    out = [rule, line(headers), rule]
    for row in cells:
        height = max((len(lines) for lines in row), default=1)
        for n in range(height):
            out.append(line([lines[n] if n < len(lines) else '' for lines in row]))
    out.append(rule)
    return '\n'.join(out)


def _select(columns, wanted):
    if not wanted:
        return list(columns)
    unknown = [c for c in wanted if c not in columns]
    if unknown:
        raise CommandError(f"No such column: {', '.join(unknown)} "
                           f"(available: {', '.join(columns)})")
    return list(wanted)


def _humane(item, human):
    """``item`` with the columns of ``human`` replaced by their display text."""
    return {**item, **{c: fn(item.get(c)) for c, fn in human.items() if c in item}}


def format_list(items, columns, fmt='table', wanted=(), human=None,
                json_columns=None) -> str:
    if fmt == 'json':
        columns = _select(json_columns or columns, wanted)
        return json.dumps([{c: i.get(c) for c in columns} for i in items], indent=4)
    columns = _select(columns, wanted)
    if fmt == 'table':
        items = [_humane(i, human or {}) for i in items]
    rows = [[i.get(c) for c in columns] for i in items]
    if fmt == 'value':
        return '\n'.join(' '.join(cell(v).replace('\n', ' ') for v in row) for row in rows)
    return table(columns, rows)


def format_item(item, fmt='table', wanted=(), human=None) -> str:
    columns = _select(sorted(item), wanted)
    if fmt == 'json':
        return json.dumps({c: item.get(c) for c in columns}, indent=4)
    if fmt == 'table':
        item = _humane(item, human or {})
    if fmt == 'value':
        return '\n'.join(cell(item.get(c)).replace('\n', ' ') for c in columns)
    return table(['Field', 'Value'], [[c, item.get(c)] for c in columns])
