"""Where tools/fetch-cloud-init.sh put cloud-init (not on PyPI): ``$NETNODE_CLOUDINIT_PATH``
or ``~/.cache/netnode/cloud-init``, as a PYTHONPATH string."""

import os

_DEFAULT = os.path.expanduser('~/.cache/netnode/cloud-init')
PATHS = os.environ.get('NETNODE_CLOUDINIT_PATH') or ':'.join([
    os.path.join(_DEFAULT, 'unpacked/usr/lib/python3/dist-packages'),
    os.path.join(_DEFAULT, 'site')])


def available() -> bool:
    return any(os.path.isdir(os.path.join(p, 'cloudinit')) for p in PATHS.split(':') if p)
