"""Option lists for oslo-config-generator (entry points ``oslo.config.opts``).

The functions return the original option objects, as the generator expects.
Namespaces never repeat an option, so a config file combining them (see
``etc/oslo-config-generator/``) lists each option once:

``netnode.common``
    ``[DEFAULT]`` options of every service (``host``, ``state_path``);
``netnode.server``
    the controller's own options;
``netnode.agent``
    the ``[AGENT]`` and ``[ovs]`` groups every agent reads;
``netnode.dhcp_agent``, ``netnode.l3_agent``, ``netnode.metadata_agent``
    what only that agent reads.
"""

from oslo_log import _options as log_options

from agent.conf import options

# The metadata agent's own option lists, by their names in agent/conf/options.py:
# (group, list name).  A list not defined yet is left out of the sample, so defining
# it in options.py is all its options need to appear in metadata_agent.ini.sample.
METADATA_AGENT_OPTION_LISTS = (
    ('DEFAULT', 'metadata_agent_opts'),
    ('DEFAULT', 'metadata_proxy_opts'),
)


def _named_lists(wanted):
    """``[(group, opts)]`` for the lists of ``wanted`` that options.py defines.

    Lists of the same group are merged, keeping the original option objects.
    """
    merged = {}
    for group, list_name in wanted:
        opts = getattr(options, list_name, None)
        if opts:
            merged.setdefault(group, []).extend(opts)
    return list(merged.items())


def list_common_opts():
    from agent.rpc import transport
    return [('DEFAULT', options.common_opts + transport.rpc_opts)]


def list_server_opts():
    from agent.cmd import server
    extra = [opt for group, opts in server.SERVER_EXTRA_OPTS if group is None
             for opt in opts]
    return [
        ('DEFAULT', options.server_opts + extra),
        ('database', options.database_opts),
    ]


def list_agent_opts():
    return [
        ('AGENT', options.agent_opts),
        ('ovs', options.ovs_opts),
    ]


def list_dhcp_agent_opts():
    return [('DEFAULT', options.dnsmasq_opts + options.metadata_proxy_opts)]


def list_l3_agent_opts():
    return [('DEFAULT', options.l3_agent_opts + options.metadata_proxy_opts)]


def list_metadata_agent_opts():
    return _named_lists(METADATA_AGENT_OPTION_LISTS)


def list_log_opts():
    return [('DEFAULT', log_options.list_opts()[0][1])]
