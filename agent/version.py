"""netnode's version: one source, ``version`` in setup.cfg's ``[metadata]``.

Installed (a wheel, ``pip install -e``), the package metadata holds it and every
program reports it from there: the agents' and the server's ``--version``, the
``netnode --version`` of the CLI, the Guru Meditation Report.  Run from a checkout
that was never installed, setup.cfg beside the package is read instead, so the
two can never disagree.  (importlib.metadata is loaded by every agent anyway:
stevedore finds oslo.messaging's drivers with it.)
"""

from __future__ import annotations

import configparser
import functools
import importlib.metadata
import pathlib

DISTRIBUTION = 'netnode'


@functools.cache
def version_string() -> str:
    """``'0.1.0'``; ``'unknown'`` when neither the metadata nor setup.cfg is found."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pass
    setup_cfg = pathlib.Path(__file__).resolve().parents[1] / 'setup.cfg'
    parser = configparser.ConfigParser()
    if parser.read(setup_cfg):
        return parser.get('metadata', 'version', fallback='unknown')
    return 'unknown'
