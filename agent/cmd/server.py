"""``netnode-server``: the controller process (REST API, database, agent RPC).

    netnode-server --config-file /etc/netnode/netnode.conf [--config-dir DIR]

Start-up: parse options, set up logging, bring the schema up to date
(``Plugin.migrate()``), then serve the REST API (see :mod:`agent.controller.wsgi`)
and the agents' RPC.
"""

from __future__ import annotations

import importlib
import logging
import sys

from agent.conf import service

LOG = logging.getLogger(__name__)


class LoggingNotifier:
    """Notifier used when no RPC transport is plugged in: logs, keeps nothing."""

    def cast_dhcp(self, host, method, payload):
        LOG.debug('no RPC: dropped DHCP cast %s to %s', method, host or 'all')

    def cast_l3(self, host, method, **kwargs):
        LOG.debug('no RPC: dropped L3 cast %s to %s', method, host or 'all')

    def call_l3(self, host, method, **kwargs):
        LOG.debug('no RPC: dropped L3 call %s to %s', method, host)


# --- RPC hook ------------------------------------------------------------------
# The RPC side plugs in through ``agent.controller.rpc_server``, when present:
#   build_notifier(conf) -> Notifier          (one per serving process; after fork)
#   start_rpc(conf, plugin) -> stop callable  (the agents' RPC endpoints, once)
# Without that module the server runs without a bus: notifications are dropped.
def _rpc_module():
    try:
        return importlib.import_module('agent.controller.rpc_server')
    except ModuleNotFoundError as exc:
        if exc.name != 'agent.controller.rpc_server':
            raise
        return None


def build_notifier(conf):
    rpc = _rpc_module()
    if rpc is not None and hasattr(rpc, 'build_notifier'):
        return rpc.build_notifier(conf)
    return LoggingNotifier()


def start_rpc(conf, plugin):
    rpc = _rpc_module()
    if rpc is not None and hasattr(rpc, 'start_rpc'):
        return rpc.start_rpc(conf, plugin)
    LOG.warning('No RPC server module (agent.controller.rpc_server): agents will not '
                'be served or notified')
    return None
# --------------------------------------------------------------------------------


def close_plugin(plugin):
    """Release the plugin's database connections (before a fork, at exit)."""
    close = getattr(plugin, 'close', None)
    if close is None:
        db = getattr(plugin, 'db', None)
        close = getattr(db, 'dispose', None)
    if close is not None:
        close()


def make_plugin(conf):
    from agent.controller.plugin import Plugin
    return Plugin(conf, notifier=build_notifier(conf))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    from agent.controller import wsgi
    from agent.controller.api import create_app

    conf = service.make_conf(argv, groups=service.SERVER_GROUPS)
    service.setup_logging(conf, 'netnode-server')

    migrator = make_plugin(conf)
    migrator.migrate()
    close_plugin(migrator)

    def build_app():
        return create_app(make_plugin(conf))

    def on_serving():
        plugin = make_plugin(conf)
        stop_rpc = start_rpc(conf, plugin)

        def stop():
            if stop_rpc:
                stop_rpc()
            close_plugin(plugin)
        return stop

    try:
        wsgi.run(conf, build_app, on_serving)
    except OSError as exc:
        LOG.error('%s', exc)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
