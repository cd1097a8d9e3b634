"""instance-set, instance-show, instance-list, instance-delete: per-instance metadata.

The data the metadata agent serves to an instance, keyed by the device_id of its
ports (``/v2.0/instances/<device_id>``).  ``--user-data FILE`` is sent base64;
``--key NAME=FILE`` (repeatable) adds a public key read from FILE.
"""

from __future__ import annotations

import base64
import urllib.parse

from agent.cli.commands import common

COLUMNS = ['device_id', 'name', 'hostname', 'availability_zone', 'project_id']


def _read(path: str, option: str) -> bytes:
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError as exc:
        raise common.CommandError(f'{option}: cannot read {path}: {exc.strerror}') from None


def _keys(values) -> dict:
    keys = {}
    for text in values or ():
        name, sep, path = text.partition('=')
        if not sep or not name or not path:
            raise common.CommandError(f"--key: '{text}' is not NAME=FILE")
        try:
            keys[name] = _read(path, '--key').decode().strip()
        except UnicodeDecodeError:
            raise common.CommandError(f'--key: {path} is not a text file') from None
    return keys


def _path(device_id: str) -> str:
    return '/instances/' + urllib.parse.quote(device_id, safe='')


def set_(client, args):
    body: dict = {}
    common.set_if(body, 'name', args.name)
    common.set_if(body, 'hostname', args.hostname)
    common.set_if(body, 'availability_zone', args.availability_zone)
    common.set_if(body, 'project_id', args.project_id)
    if args.user_data is not None:
        body['user_data'] = base64.b64encode(_read(args.user_data,
                                                   '--user-data')).decode('ascii')
    elif args.no_user_data:
        body['user_data'] = None
    keys = _keys(args.key)
    if keys or args.no_keys:
        body['public_keys'] = keys
    doc = client.request('PUT', _path(args.device_id), {'instance': body})
    return common.Shown(doc['instance'], 'Instance metadata set:')


def show(client, args):
    return common.Shown(client.request('GET', _path(args.device_id))['instance'])


def list_(client, args):
    return common.Listed(client.request('GET', '/instances')['instances'], COLUMNS)


def delete(client, args):
    for device_id in args.device_ids:
        client.request('DELETE', _path(device_id))
    return common.Message(f"Deleted instance metadata: {', '.join(args.device_ids)}")


def register(sub):
    p = common.command(sub, 'instance-set', set_,
                       'Set the metadata of an instance (by the device_id of its ports).')
    p.add_argument('device_id', metavar='DEVICE_ID')
    p.add_argument('--name')
    p.add_argument('--hostname')
    p.add_argument('--user-data', '--user_data', metavar='FILE',
                   help='File whose content is the instance\'s user data.')
    p.add_argument('--no-user-data', action='store_true', help='Remove the user data.')
    p.add_argument('--key', action='append', metavar='NAME=FILE',
                   help='Public key NAME read from FILE (repeatable); replaces the '
                        'instance\'s keys.')
    p.add_argument('--no-keys', action='store_true', help='Remove all public keys.')
    p.add_argument('--availability-zone', '--availability_zone', metavar='AZ')
    common.add_project(p)

    p = common.command(sub, 'instance-show', show, 'Show the metadata of an instance.')
    p.add_argument('device_id', metavar='DEVICE_ID')

    common.command(sub, 'instance-list', list_, 'List instances with metadata.')

    p = common.command(sub, 'instance-delete', delete, 'Delete instance metadata.')
    p.add_argument('device_ids', nargs='+', metavar='DEVICE_ID')
