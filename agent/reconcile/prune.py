"""What both agents' mark-and-sweep prunes (agent.dhcp.prune, agent.l3.prune) share.

A namespace named after a resource (``qdhcp-<network>``, ``qrouter-<router>``)
is ours only when something of ours says so: another agent on the same host
(its own state_path and bridges, as in tests on a shared host) may serve the
same id, and its namespaces are never ours to remove.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from agent.common import names


def namespaces_of_ours(netns, prefix: str, ours: Callable[[str], bool],
                       our_devices: Iterable[str]) -> dict[str, str]:
    """resource id -> namespace, for the ``prefix`` namespaces that ``ours(id)``
    claims (a state directory, a config, a process of ours names the id) or that
    hold one of ``our_devices`` (ports of ours on our bridges)."""
    devices = frozenset(our_devices)
    found = {}
    for namespace in netns.list_namespaces():
        resource_id = names.id_from_namespace(namespace, prefix)
        if resource_id is None:
            continue
        if ours(resource_id):
            found[resource_id] = namespace
            continue
        try:
            inside = netns.devices_in(namespace)
        except Exception:  # noqa: BLE001 - gone meanwhile
            continue
        if devices.intersection(inside):
            found[resource_id] = namespace
    return found
