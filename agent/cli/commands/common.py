"""What every command module shares: results, key=value parsing, common options."""

from __future__ import annotations

import argparse
import dataclasses

from agent.cli.client import CommandError


def output_options(parser, default=argparse.SUPPRESS):
    """-f and -c, accepted before and after the command name (cliff style)."""
    parser.add_argument('-f', '--format', choices=('table', 'json', 'value'),
                        default=default, help='Output format (default: table).')
    parser.add_argument('-c', '--column', action='append', dest='columns',
                        default=default, metavar='COLUMN',
                        help='Print only this column (repeatable).')
    return parser


OUTPUT_OPTIONS = output_options(argparse.ArgumentParser(add_help=False))


@dataclasses.dataclass
class Shown:
    """One resource, printed as a Field/Value table.

    ``human``: column -> function giving the text a table shows for its value;
    ``-f json`` and ``-f value`` keep the value itself (openstackclient's rule:
    human-readable in tables, machine-readable otherwise).
    """
    item: dict
    title: str = ''
    human: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Listed:
    """Items as table rows; ``json_columns`` (when given) are the columns of
    ``-f json``, which may carry more than a table has room for."""
    items: list
    columns: list
    human: dict = dataclasses.field(default_factory=dict)
    json_columns: list | None = None


@dataclasses.dataclass
class Message:
    text: str


def parse_kv(text: str, allowed, option: str) -> dict:
    """``key1=v1,key2=v2`` → dict, with only ``allowed`` keys; errors name the option."""
    result = {}
    for part in text.split(','):
        if not part:
            continue
        key, sep, value = part.partition('=')
        key = key.strip().replace('-', '_')
        if not sep or not key:
            raise CommandError(f"{option}: '{part}' is not key=value "
                               f"(expected {', '.join(k + '=...' for k in allowed)})")
        if key not in allowed:
            raise CommandError(f"{option}: unknown key '{key}' "
                               f"(expected {', '.join(allowed)})")
        result[key] = value.strip()
    return result


def parse_bool(text: str, option: str) -> bool:
    low = text.strip().lower()
    if low in ('true', '1', 'yes', 'on'):
        return True
    if low in ('false', '0', 'no', 'off'):
        return False
    raise CommandError(f"{option}: '{text}' is not a boolean (use True or False)")


# Flags neutron-client also accepted as ``--flag=True|False``.
BOOLEAN_FLAGS = ('--router:external', '--shared')


def normalize_argv(argv):
    """``--router:external=True`` → ``--router:external``; ``=False`` → ``--no-...``."""
    result = []
    for arg in argv:
        name, sep, value = arg.partition('=')
        if sep and name in BOOLEAN_FLAGS:
            arg = name if parse_bool(value, name) else '--no-' + name[2:]
        result.append(arg)
    return result


def add_project(parser):
    parser.add_argument('--tenant-id', '--tenant_id', '--project-id', '--project_id',
                        dest='project_id', metavar='PROJECT',
                        help='Owner of the new resource (admin only).')


def set_if(body: dict, key: str, value):
    if value is not None:
        body[key] = value


def command(sub, name, func, help_text, **kwargs):
    parser = sub.add_parser(name, help=help_text, description=help_text,
                            parents=[OUTPUT_OPTIONS], **kwargs)
    parser.set_defaults(func=func)
    return parser


def delete_command(sub, singular, plural, by_name=True):
    """``<res>-delete NAME_OR_ID...``."""
    def delete(client, args):
        for ref in args.refs:
            client.delete(plural, client.find_id(singular, plural, ref, by_name))
        return Message(f"Deleted {singular}(s): {', '.join(args.refs)}")
    short = {'network': 'net'}.get(singular, singular)
    p = command(sub, f'{short}-delete', delete, f'Delete {singular}s.')
    p.add_argument('refs', nargs='+', metavar=singular.upper())
    return p


def show_command(sub, singular, plural, by_name=True):
    def show(client, args):
        return Shown(client.find(singular, plural, args.ref, by_name))
    short = {'network': 'net'}.get(singular, singular)
    p = command(sub, f'{short}-show', show, f'Show a {singular}.')
    p.add_argument('ref', metavar=singular.upper())
    return p
