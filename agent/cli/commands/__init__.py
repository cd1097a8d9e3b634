"""The CLI's commands, one module per resource."""

from agent.cli.commands import (agent, floatingip, instance, network, port, probe, router,
                                subnet)

MODULES = (network, subnet, port, router, floatingip, agent, probe, instance)
