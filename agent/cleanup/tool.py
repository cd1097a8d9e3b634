"""What both cleanup commands share: their command line and the OVSDB connection.

``run(name, cli_opts, argv, body)`` parses ``argv`` (the common options plus the
tool's own ``cli_opts``; a bad command line exits 2), sets up logging and returns
``body(conf)`` as the exit status.  :func:`connect_ovs` opens the OVS driver or
says why it cannot.
"""

from __future__ import annotations

import logging
import sys
from typing import Callable

from oslo_config import cfg

from agent.conf import service
from agent.drivers.state import DriverError

LOG = logging.getLogger(__name__)


def parse(argv, cli_opts):
    conf = cfg.ConfigOpts()
    conf.register_cli_opts(cli_opts)
    return service.make_conf(argv, conf=conf)


def run(name: str, cli_opts, argv, body: Callable[[object], int]) -> int:
    try:
        conf = parse(sys.argv[1:] if argv is None else argv, cli_opts)
    except cfg.Error as exc:
        print(f'{name}: {exc}', file=sys.stderr)
        return 2
    service.setup_logging(conf, name)
    return body(conf)


def connect_ovs(conf):
    """``(OvsDriver, None)``, or ``(None, why)`` when OVSDB is unreachable."""
    from agent.drivers.ovs import OvsDriver
    try:
        return OvsDriver.from_conf(conf), None
    except DriverError as exc:
        return None, str(exc)
