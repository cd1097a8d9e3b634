"""``netnode``: the controller's command line, in neutron-client style.

    netnode [--url URL] [--debug] [-f table|json|value] [-c COLUMN] COMMAND [ARGS]
    netnode --version

``--url`` defaults to ``$NETNODE_URL`` or http://127.0.0.1:9696.  Resources
are referenced by name or id.  ``--debug`` prints each HTTP request and
response on stderr (openstackclient's ``--debug``: ``REQ:``/``RESP:`` lines).
Exit status: 0 on success, 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import sys

from agent import version
from agent.cli import client as api
from agent.cli import output
from agent.cli.commands import MODULES, common


def build_parser():
    parser = argparse.ArgumentParser(
        prog='netnode', description='Command line of the netnode controller.')
    parser.add_argument('--url', default=os.environ.get('NETNODE_URL', api.DEFAULT_URL),
                        help='Controller REST endpoint (default: $NETNODE_URL or '
                             f'{api.DEFAULT_URL}).')
    parser.add_argument('--os-project-id', '--project', dest='os_project_id',
                        default=os.environ.get('NETNODE_PROJECT_ID'),
                        help='Act as this project (X-Project-Id); admin otherwise.')
    parser.add_argument('--version', action='version',
                        version=f'%(prog)s {version.version_string()}')
    parser.add_argument('--debug', action='store_true',
                        help='Print each HTTP request and response on stderr.')
    parser.add_argument('--timeout', type=float, default=60.0, help=argparse.SUPPRESS)
    common.output_options(parser, default=None)
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True
    for module in MODULES:
        module.register(sub)
    return parser


def render(result, fmt, columns) -> str | None:
    if isinstance(result, common.Listed):
        return output.format_list(result.items, result.columns, fmt, columns,
                                  result.human, result.json_columns)
    if isinstance(result, common.Shown):
        text = output.format_item(result.item, fmt, columns, result.human)
        return f'{result.title}\n{text}' if result.title and fmt == 'table' else text
    if isinstance(result, common.Message):
        return result.text if fmt == 'table' else None
    return None


def run(argv, stdout=sys.stdout, stderr=sys.stderr) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(common.normalize_argv(argv))
    except api.CommandError as exc:
        print(str(exc), file=stderr)
        return 2
    fmt = args.format or 'table'
    client = api.Client(args.url, timeout=args.timeout, project_id=args.os_project_id,
                        debug=stderr if args.debug else None)
    try:
        text = render(args.func(client, args), fmt, args.columns or ())
    except api.ApiError as exc:
        print(f'{exc.type}: {exc}' if exc.type else str(exc), file=stderr)
        return 1
    except api.CommandError as exc:
        print(str(exc), file=stderr)
        return 1
    if text:
        print(text, file=stdout)
    return 0


def main(argv=None):
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    sys.exit(main())
