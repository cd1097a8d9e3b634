"""Build a parsed ConfigOpts for one service: our options, oslo.log, oslo.messaging."""

from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging
from oslo_messaging import opts as messaging_opts

from agent import version
from agent.conf import options

# Each service's option groups, as (group, options) pairs.
SERVER_GROUPS = (
    (None, options.common_opts + options.server_opts),
    ('database', options.database_opts),
)
AGENT_GROUPS = (
    (None, options.common_opts + options.sync_opts),
    ('AGENT', options.agent_opts),
    ('ovs', options.ovs_opts),
)
# Agents that run metadata proxies read metadata_proxy_opts (the socket to forward to,
# the user the proxies run as) and [metadata_rate_limiting].
PROXY_GROUPS = ((None, options.metadata_proxy_opts),
                (options.METADATA_RATE_LIMITING, options.metadata_rate_limiting_opts))
L3_AGENT_GROUPS = AGENT_GROUPS + ((None, options.l3_agent_opts + options.interface_opts),
                                  ) + PROXY_GROUPS
DHCP_AGENT_GROUPS = AGENT_GROUPS + ((None, options.dnsmasq_opts + options.interface_opts),
                                    ) + PROXY_GROUPS
METADATA_AGENT_GROUPS = AGENT_GROUPS + ((None, options.metadata_proxy_opts),
                                        (None, options.metadata_agent_opts))


def register(conf, groups, extra=()):
    """Register option groups on ``conf``; already registered options are skipped."""
    for group, opts in tuple(groups) + tuple(extra):
        for opt in opts:
            try:
                conf.register_opt(opt, group=group)
            except cfg.DuplicateOptError:
                pass


def make_conf(argv, project='netnode', groups=AGENT_GROUPS, extra=(), conf=None,
              default_config_files=None):
    """Return a parsed ConfigOpts.  ``argv`` excludes the program name.

    Logging options are registered before parsing (oslo.log's rule), and the
    messaging defaults are Neutron's: exchange ``neutron``.
    """
    conf = cfg.ConfigOpts() if conf is None else conf
    register(conf, groups, extra)
    logging.register_options(conf)
    oslo_messaging.set_transport_defaults(control_exchange='neutron')
    # The transport options live on the ConfigOpts they are used with; the tracing
    # group is only registered on the global CONF by oslo.messaging itself.
    for group, opts in messaging_opts.list_opts():
        register(conf, [(group, opts)])
    conf(argv, project=project, version=version.version_string(),
         default_config_files=default_config_files or [])
    return conf


def setup_logging(conf, name):
    logging.setup(conf, name, fix_eventlet=False)


def reload_config_files(conf):
    """SIGHUP: re-read the files for the mutable options (log level); a bad file is
    logged and the running configuration kept."""
    log = logging.getLogger(__name__)
    try:
        conf.mutate_config_files()
        log.info('SIGHUP: configuration files re-read')
    except Exception:  # noqa: BLE001 - a bad file must not stop the service
        log.exception('SIGHUP: re-reading the configuration files failed')
