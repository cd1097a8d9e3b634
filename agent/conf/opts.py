"""Option lists for oslo-config-generator (entry points ``oslo.config.opts``).

The functions return the original option objects, as the generator expects.
Namespaces never repeat an option, so a config file combining them (see
``etc/oslo-config-generator/``) lists each option once:

``netnode.common``
    ``[DEFAULT]`` options of every service (``host``, ``state_path``);
``netnode.server``
    the controller's own options;
``netnode.agent``
    the ``[AGENT]`` and ``[ovs]`` groups every agent reads, and its ``[DEFAULT]``
    resync options (where Neutron keeps them);
``netnode.dhcp_agent``, ``netnode.l3_agent``, ``netnode.metadata_agent``
    what that agent registers beyond ``netnode.common`` and ``netnode.agent``
    (derived from ``agent.conf.service.*_AGENT_GROUPS``).
"""

from oslo_log import _options as log_options

from agent.conf import options, service


def _beyond_agent_groups(groups):
    """``[(group, opts)]`` a service registers on top of ``AGENT_GROUPS``.

    Derived from the groups the agent's entry point registers
    (``agent.conf.service.*_AGENT_GROUPS``), so its sample lists exactly what it
    reads; original option objects, each once, merged per group.
    """
    shared = {id(opt) for _group, opts in service.AGENT_GROUPS for opt in opts}
    merged: dict = {}
    for group, opts in groups:
        for opt in opts:
            if id(opt) not in shared:
                shared.add(id(opt))
                merged.setdefault(group or 'DEFAULT', []).append(opt)
    return list(merged.items())


def list_common_opts():
    from agent.rpc import transport
    return [('DEFAULT', options.common_opts + transport.rpc_opts)]


def list_server_opts():
    return [
        ('DEFAULT', options.server_opts),
        ('database', options.database_opts),
    ]


def list_agent_opts():
    return [
        ('DEFAULT', options.sync_opts),
        ('AGENT', options.agent_opts),
        ('ovs', options.ovs_opts),
    ]


def list_dhcp_agent_opts():
    return _beyond_agent_groups(service.DHCP_AGENT_GROUPS)


def list_l3_agent_opts():
    return _beyond_agent_groups(service.L3_AGENT_GROUPS)


def list_metadata_agent_opts():
    return _beyond_agent_groups(service.METADATA_AGENT_GROUPS)


def list_log_opts():
    return [('DEFAULT', log_options.list_opts()[0][1])]
