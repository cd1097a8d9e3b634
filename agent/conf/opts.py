"""Option lists for oslo-config-generator (entry points in setup.cfg).

The functions return the original option objects, as the generator expects.
"""

from oslo_log import _options as log_options

from agent.conf import options


def list_server_opts():
    return [
        ('DEFAULT', options.common_opts + options.server_opts),
        ('database', options.database_opts),
    ]


def list_agent_opts():
    return [
        ('DEFAULT', options.common_opts),
        ('AGENT', options.agent_opts),
        ('ovs', options.ovs_opts),
    ]


def list_log_opts():
    return [('DEFAULT', log_options.list_opts()[0][1])]
