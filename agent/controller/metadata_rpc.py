"""``q-plugin`` endpoint of the metadata agent's own question (our extension).

Neutron's metadata agent asks ``get_ports`` on ``q-plugin`` (MetadataRpcCallback,
version 1.0), which :class:`agent.controller.rpc_server.DhcpRpcCallback` already
answers for the DHCP agent.  What Neutron then asks Nova, netnode answers here:
``get_instance_metadata(device_id)`` returns the instance's stored data, its
ports, their networks, subnets and floating IPs
(:func:`agent.controller.instances.instance_metadata`).  Not part of Neutron's
protocol: a neutron-server would answer it with NoSuchMethod.
"""

from __future__ import annotations

import agent.rpc  # noqa: F401  (first: silences oslo's eventlet warning)
import oslo_messaging

from agent.controller.rpc_endpoint import call_args, rpc_method


class MetadataRpcCallback:
    """``q-plugin``, version 1.0 (netnode extension): instance metadata."""

    target = oslo_messaging.Target(version='1.0')
    rpc_methods = frozenset({'get_instance_metadata'})

    def __init__(self, plugin):
        self.plugin = plugin

    @rpc_method
    def get_instance_metadata(self, context, **kwargs):
        f = call_args('get_instance_metadata', kwargs)
        return self.plugin.get_instance_metadata(f.str('device_id'))
