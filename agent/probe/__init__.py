"""Probes: a port plugged into its own namespace, a stand-in VM (as neutron-debug had).

``netnode probe-create <network>`` creates a port through the REST API
(``device_owner=compute:probe``, ``device_id=probe-<host>``) and plugs it into
``qprobe-<port id>`` with the port's MAC, the network's MTU and its local VLAN
tag, without addresses: run a DHCP client in it, or add addresses by hand.
"""
