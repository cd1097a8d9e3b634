"""Cleanup after crashed or removed agents: stale namespaces and OVS ports.

The logic works on the driver Protocols (``agent.drivers``), so it is tested with
the in-memory fakes; ``agent.cmd.netns_cleanup`` and ``agent.cmd.ovs_cleanup`` wire
it to the real drivers (their shared command line and OVSDB set-up: ``tool``).
Nothing here talks to the controller.
"""
