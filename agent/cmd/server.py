"""``netnode-server``: the controller process (REST API, database, agent RPC).

    netnode-server --config-file /etc/netnode/netnode.conf [--config-dir DIR]

Start-up: parse options, set up logging, bring the schema up to date
(``Plugin.migrate()``), then serve the REST API (see :mod:`agent.controller.wsgi`),
the agents' RPC and the automatic failover of dead agents
(:mod:`agent.controller.failover_loop`).
"""

from __future__ import annotations

import logging
import sys

from oslo_config import cfg

from agent.conf import options, service
from agent.ops import gmr

LOG = logging.getLogger(__name__)


class LoggingNotifier:
    """Notifier used when RPC is disabled: logs at debug, keeps nothing."""

    def cast_dhcp(self, host, method, payload):
        LOG.debug('RPC disabled: dropped DHCP cast %s to %s', method, host or 'all')

    def cast_l3(self, host, method, **kwargs):
        LOG.debug('RPC disabled: dropped L3 cast %s to %s', method, host or 'all')

    def call_l3(self, host, method, **kwargs):
        LOG.debug('RPC disabled: dropped L3 call %s to %s', method, host)

    def network_update(self, network):
        LOG.debug('RPC disabled: dropped network_update of %s', network.get('id'))


# --- RPC hook ------------------------------------------------------------------
# The agents' side: agent.controller.rpc_notifier.RpcNotifier tells agents about
# changes (one per serving process, built after the fork, each with its delivery
# queue and worker thread), and
# agent.controller.rpc_server.start_rpc_servers serves q-plugin, q-l3-plugin and
# q-reports-plugin (once: beside the API, or with api_workers > 1 in an RPC
# worker process of its own).  ``[DEFAULT] enable_rpc = false`` runs the REST API
# alone: notifications are logged and dropped.


def build_notifier(conf):
    """The bus notifier behind a queue and its worker (agent.controller.delivery):
    a request waits for its own casts briefly (bounded), never on a bus that is down."""
    if not conf.enable_rpc:
        return LoggingNotifier()
    from agent.controller.delivery import QueuedNotifier
    from agent.controller.rpc_notifier import RpcNotifier
    return QueuedNotifier(RpcNotifier(conf))


def start_rpc(conf, plugin):
    """Start the RPC servers on ``plugin``; returns a callable stopping them."""
    from agent.controller.rpc_server import start_rpc_servers
    servers = start_rpc_servers(conf, plugin)
    LOG.info('RPC servers started on exchange %s as host %s', conf.control_exchange,
             conf.host)
    return servers.stop
# --------------------------------------------------------------------------------


def close_plugin(plugin):
    """Release the plugin's database connections (before a fork, at exit)."""
    close = getattr(plugin, 'close', None)
    if close is None:
        close = getattr(getattr(plugin, 'db', None), 'dispose', None)
    if close is not None:
        close()


def make_plugin(conf, notifier=None):
    from agent.controller.plugin import Plugin
    return Plugin(conf, notifier=notifier if notifier is not None
                  else build_notifier(conf))


def make_conf(argv):
    """The server's parsed options: its state_path defaults to its own directory
    (options.SERVER_STATE_PATH), not the agents'."""
    conf = cfg.ConfigOpts()
    service.register(conf, service.SERVER_GROUPS)
    conf.set_default('state_path', options.SERVER_STATE_PATH)
    return service.make_conf(argv, groups=service.SERVER_GROUPS, conf=conf)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    from agent.controller import wsgi
    from agent.controller.api import create_app

    conf = make_conf(argv)
    service.setup_logging(conf, 'netnode-server')
    gmr.Reporter('netnode-server', conf).install()     # SIGUSR2: report to the log

    if not conf.enable_rpc:
        LOG.warning('enable_rpc is false: agents are neither served nor notified')
    migrator = make_plugin(conf, notifier=LoggingNotifier())
    migrator.migrate()
    close_plugin(migrator)

    def build_app():
        return create_app(make_plugin(conf), conf)

    def on_serving():
        # The RPC servers: beside the API, or in a worker of their own.
        # The failover check beside them: once per server, as they are.
        plugin = make_plugin(conf)
        stop_rpc = start_rpc(conf, plugin)
        from agent.controller.failover_loop import FailoverLoop
        failover = FailoverLoop(conf, plugin).start()

        def stop():
            failover.stop()
            if stop_rpc:
                stop_rpc()
            close_plugin(plugin)
        return stop

    try:
        wsgi.run(conf, build_app, on_serving if conf.enable_rpc else None)
    except OSError as exc:
        LOG.error('%s', exc)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
