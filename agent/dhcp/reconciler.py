"""Reconcile one network: fetch, DHCP port, device, dnsmasq, metadata proxy; or tear down.

The work queue calls :meth:`DhcpReconciler.handle` with ``('network', id)``.
A network is served when it is *assigned* to this agent (the last full fetch,
plus create/update notifications since) and the server says it wants DHCP;
anything else is torn down: children stopped, tap unplugged, namespace and
state directory removed, local VLAN released when no other port uses it, DHCP
port released.  Every step observes first, so a converged network costs a
fetch, a few reads and no change at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping

from agent.common import fileutils, names
from agent.dataplane import device as dev
from agent.dataplane import executor, provider_vlan
from agent.dataplane.ports import BridgePorts
from agent.dhcp import desired as want
from agent.dhcp import dnsmasq
from agent.dhcp import steps
from agent.dhcp import taps
from agent.dhcp.firewall import QdhcpFirewall
from agent.dhcp.fetch_waiters import FetchWaiters, Waiting
from agent.dhcp import leases
from agent.dhcp.leases import LeaseReleaser
from agent.dhcp.metadata_access import metadata_access
from agent.dhcp.settings import DhcpPaths, DnsmasqSettings
from agent.dhcp.state import Assignments, NetworkStates, Served
from agent.drivers.state import DEAD_VLAN
from agent.metadata import haproxy
from agent.metadata.node_proxy import ListenerSpec, NodeProxy
from agent.model.network import Network, Port
from agent.process import actions as child
from agent.process.children import Children
from agent.reconcile.plan import Plan, execute
from agent.reconcile.prefetch import Prefetched
from agent.reconcile.queue import DEFAULT_PRIORITY, FORGET, TerminalError

LOG = logging.getLogger(__name__)

NETWORK = 'network'
METADATA = 'metadata'      # the isolated metadata proxy, converged on its own key
METADATA_PRIORITY = 150     # after events, before full-sync work
# The qdhcp iptables of a namespace made just now wait for the end of the burst
# (the queue idle), but at most this long (s) under a load that never ends.
FIREWALL_DEFER_MAX = 1.0


class DhcpPortError(RuntimeError):
    """The server did not give us a usable DHCP port (retried)."""


class DeviceConflict(TerminalError):
    """Our DHCP port's tap name is another port's device (not retried: the next
    full sync tries again)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ReconcilerConfig:
    host: str
    bridge: str
    settings: DnsmasqSettings
    local_vlan_tagging: bool = True
    metadata_user: str = 'root'
    metadata_group: str = 'root'
    metadata_socket: str | None = None
    debug: bool = False
    metadata_rate_limit: haproxy.RateLimit | None = None
    metadata_proxy_mode: str = 'haproxy'        # or 'shared' (agent.metadata.node_proxy)
    ovs_use_veth: bool = False      # veth pairs, not internal ports (agent.dataplane.device)
    # Coalesce reloads: a network reloaded less than this many seconds ago waits
    # out the rest before it is fetched again, so a storm of port changes becomes
    # one SIGHUP per interval (Neutron's bulk_reload_interval; SIGHUP cost grows
    # quadratically with the hosts file).
    reload_interval: float = 0.3
    # [ovs] bridge_mappings, parsed: physical network -> bridge (provider_vlan)
    bridge_mappings: Mapping[str, str] = dataclasses.field(default_factory=dict)


def network_key(network_id: str) -> tuple[str, str]:
    return (NETWORK, network_id)


def metadata_key(network_id: str) -> tuple[str, str]:
    return (METADATA, network_id)


class DhcpReconciler:
    """``handle(key)`` for the work queue; see the module docstring."""

    def __init__(self, config: ReconcilerConfig, plugin, drivers: executor.HostDrivers,
                 vlans, processes, monitor, networks: NetworkStates | None = None,
                 ready=None, ports: BridgePorts | None = None,
                 releaser: LeaseReleaser | None = None,
                 firewall: QdhcpFirewall | None = None, *,
                 enqueue: Callable[[Hashable, int, str], None],
                 node_proxy: NodeProxy | None = None):
        self.config = config
        self.settings = config.settings
        self.plugin = plugin
        self.drivers = drivers
        self.vlans = vlans
        self.processes = processes
        self.monitor = monitor
        self.children = Children(processes, monitor)
        self.networks = networks or NetworkStates()     # one record per network
        self.ready = ready
        self.ports = ports or BridgePorts(drivers.ovs, config.bridge)
        self.releaser = releaser      # dhcp_release of stale leases before a reload
        self.firewall = firewall      # the qdhcp iptables (checksum fill)
        self.assigned = Assignments()
        self.node_proxy = node_proxy      # the shared metadata proxy (both modes)
        self._prefetched: Prefetched[str, Network] = Prefetched()
        self.fetch_waiters = FetchWaiters()    # creates waiting for a run's read
        self._lock = threading.Lock()
        self.enqueue = enqueue            # the work queue's: (key, priority, reason)
        self.outcomes: dict[str, int] = {}
        self._sleep = time.sleep
        self._firewall_due: dict[str, float] = {}     # network -> since (under _lock)

    # -- inputs ---------------------------------------------------------------------

    def prefetched(self, networks: Iterable[Network], started_at: float) -> None:
        """A full fetch: the assignment, and the networks to use instead of a refetch.

        A network an event invalidated after the fetch began may be older in it
        than the event: that one is fetched again when it is handled.
        """
        networks = list(networks)
        kept = self._prefetched.fetched({n.id: n for n in networks}, started_at)
        for network_id, network in kept.items():
            self.networks.update(network_id, fetched=network)
        self.assigned.fetched((n.id for n in networks), started_at)
        self._allocate_vlans([n.id for n in networks if want.wants_dhcp(n)
                              and not self.config.bridge_mappings])

    def _allocate_vlans(self, network_ids: list[str]) -> None:
        """The local VLANs of a full sync asked for together: one OVSDB transaction,
        not one per network (agent.drivers.local_vlan)."""
        if not self.config.local_vlan_tagging or not network_ids:
            return
        try:
            self.vlans.tags_for(network_ids)
        except Exception as exc:  # noqa: BLE001 - each network then allocates its own
            LOG.warning('allocating the local VLANs of %d networks failed: %s',
                        len(network_ids), exc)

    def last_fetched(self, network_id: str) -> Network | None:
        """The network as last read from the server (a full fetch or a refetch)."""
        return self.networks.get(network_id).fetched

    def known_dhcp_ports(self) -> dict[str, str]:
        """port id -> network id of our DHCP ports in the networks last read or
        served: what recognises taps plugged without our mark (agent.dhcp.taps)."""
        networks = self.networks.all_fetched()
        networks += [s.network for s in self.networks.all_served()]
        return taps.our_dhcp_ports(networks, self.config.host)

    def invalidate(self, network_id: str) -> None:
        """An event about the network arrived: fetch it again before acting."""
        self._prefetched.invalidate(network_id)

    def claim(self, network_id: str) -> None:
        """The network's namespace holds a process of ours: its teardown removes it
        even without a state directory or tap."""
        self.networks.update(network_id, claimed=True)

    def _hold_down(self, network_id: str) -> None:
        last = self.networks.get(network_id).last_reload
        if last is not None:
            wait = last + self.config.reload_interval - time.monotonic()
            if wait > 0:
                self._sleep(wait)

    def _fetch(self, network_id: str) -> Network | None:
        """The network to converge: the full fetch's copy if still good, else read
        now.  The creates that waited for this read are checked against it
        (agent.dhcp.fetch_waiters)."""
        read = None
        self.fetch_waiters.expect(network_id)
        try:
            self._hold_down(network_id)
            copied, network = self._prefetched.take(network_id)
            if not copied:
                network = self.plugin.get_network_info(network_id)
                self.networks.update(network_id, fetched=network)
            read = network
        finally:
            self._hand_on(network_id, self.fetch_waiters.read(network_id, read))
        return network

    def _hand_on(self, network_id: str, events: list[Waiting]) -> None:
        """Queue the events a read did not answer, as their notifications would have."""
        for event in events:
            self.invalidate(network_id)
            self.enqueue(network_key(network_id), event.priority, event.reason)

    # -- the handler ----------------------------------------------------------------

    def handle(self, key):
        kind, network_id = key
        if kind not in (NETWORK, METADATA) or not names.is_uuid(network_id):
            raise TerminalError(f'unknown work key {key!r}')
        if kind == METADATA:
            return self.metadata_proxy(network_id)
        if network_id not in self.assigned:
            self._hand_on(network_id, self.fetch_waiters.read(network_id, None))
            return self.teardown(network_id, release=True)
        network = self._fetch(network_id)
        if network is None:
            self.assigned.event(network_id, False)
        if not want.wants_dhcp(network):
            return self.teardown(network_id, release=True)
        self.converge(network)
        return None

    # -- serving a network ----------------------------------------------------------

    def _dhcp_port(self, network: Network) -> tuple[Network, Port]:
        port, request = want.dhcp_port_request(network, self.config.host)
        if port is None:
            LOG.debug('network %s: %s %s', network.id, request.method,
                      request.port_id or '')
            if request.method == 'create_dhcp_port':
                port = self.plugin.create_dhcp_port(request.body)
            else:
                port = self.plugin.update_dhcp_port(request.port_id, request.body)
            if port is None:
                raise DhcpPortError(f'network {network.id}: {request.method} returned '
                                    'no port')
            # A full fetch under way may hold the network without this port: its
            # copy must not be used (a second create_dhcp_port would make a second
            # DHCP port, and dnsmasq --dhcp-authoritative).  Our own port's echo
            # notification is skipped, so it does not invalidate the network.
            self.invalidate(network.id)
            network = want.with_port(network, port)
        wanted = {s.id for s in network.dhcp_subnets}
        missing = wanted - {ip.subnet_id for ip in port.fixed_ips}
        if missing:
            raise DhcpPortError(f'network {network.id}: DHCP port {port.id} has no IP on '
                                f'subnet(s) {", ".join(sorted(missing))}')
        return network, port

    def _tag(self, network: Network) -> int:
        if not self.config.local_vlan_tagging:
            return DEAD_VLAN
        try:
            tag = provider_vlan.provider_tag(network.id, network.segment,
                                             self.config.bridge_mappings)
        except provider_vlan.ProviderNetworkError as exc:
            raise TerminalError(str(exc)) from None     # retrying cannot help
        return self.vlans.tag_for(network.id) if tag is None else tag

    def _namespace_ahead(self, network: Network) -> steps.Background | None:
        """A network whose DHCP port is still to be made (a server round trip) gets
        its namespace (with its sysctls) and its local VLAN meanwhile, on a thread:
        namespace creation (~5 ms on a quiet host, ~100 ms at a load of 15) and the
        VLAN's OVSDB transaction leave the path to serving.  None when the port
        exists or the namespace does; else join() gives (namespace made, tag)."""
        port, _ = want.dhcp_port_request(network, self.config.host)
        namespace = names.dhcp_namespace(network.id)
        if port is not None or self.drivers.netns.exists(namespace):
            return None
        # Ours before it exists: a crash before the tap is plugged leaves a
        # namespace the pruner knows by this directory (see prune.py).
        fileutils.ensure_dir(DhcpPaths.of(self.settings, network.id).directory)

        def ahead() -> tuple[bool, int]:
            tag = self._tag(network)     # first: a network refused makes nothing
            made = self.drivers.netns.create(namespace, dict(want.NAMESPACE_SYSCTLS))
            if made:        # outside a plan: logged as its actions would be
                LOG.debug('network %s: %s; %s', network.id,
                          dev.CreateNamespace(namespace).describe(),
                          dev.SetSysctls(namespace, want.NAMESPACE_SYSCTLS).describe())
            return made, tag
        return steps.Background(ahead, name='netns-ahead')

    def _observe(self, desired: dev.DesiredDevice, fresh: bool) -> dev.ObservedDevice:
        # Our own port only: a listing of the bridge costs ~0.1 ms per port.
        mine = self.drivers.ovs.find_port(desired.bridge, desired.name)
        if fresh:       # made just now, with its sysctls: no visit to it
            return dev.ObservedDevice(True, mine, None, mine is not None and (
                self.drivers.links.observe_link(None, desired.name) is not None),
                sysctls=tuple((k, str(v)) for k, v in desired.sysctls))
        return executor.observe(self.drivers, desired, {} if mine is None else {mine.name: mine})

    def converge(self, network: Network) -> None:
        started = time.monotonic()
        network = want.dhcp_enabled(network)
        ahead = self._namespace_ahead(network)
        try:
            network, port = self._dhcp_port(network)
        finally:
            made, tag = ahead.join() if ahead is not None else (False, None)
        port_done = time.monotonic()
        desired = want.desired_device(network, port, self.config.bridge,
                                      self._tag(network) if tag is None else tag,
                                      self.settings, self.config.host,
                                      self.config.local_vlan_tagging,
                                      self.config.ovs_use_veth)
        observed = self._observe(desired, made)
        plan = dev.diff(desired, observed)
        resource = f'network {network.id}'
        for refused in dev.refusals(plan):
            if made:      # nothing of the network's goes on the host after all
                LOG.debug('%s: %s', resource, dev.DeleteNamespace(desired.namespace).describe())
                self.drivers.netns.delete(desired.namespace)
                with contextlib.suppress(OSError):
                    os.rmdir(DhcpPaths.of(self.settings, network.id).directory)
            raise DeviceConflict(
                f'{resource}: DHCP port {refused.port_id} refused: its device '
                f'{refused.name} is port {refused.holder_id}\'s, which exists (device '
                f'names are a prefix and the first 11 characters of the port id); '
                f'that device is left where it is')
        starter = None
        created = made or (bool(plan) and isinstance(plan.actions[0], dev.CreateNamespace))
        if plan:
            if created and not made:
                # Ours before it exists: a crash before the tap is plugged leaves a
                # namespace the pruner knows by this directory (see prune.py).
                fileutils.ensure_dir(DhcpPaths.of(self.settings, network.id).directory)
            split = steps.split_at_plug(plan, made)
            try:
                if split is not None:
                    # A fresh namespace: start dnsmasq while the tap is plugged and
                    # configured (--bind-dynamic picks the device up when it is
                    # ready), which takes its start out of the critical path.
                    setup, rest = split
                    if setup:
                        self._execute(setup, resource)
                    starter = steps.Background(self._dnsmasq, network, desired.name, port.id)
                    self._execute(rest, resource)
                else:
                    self._execute(plan, resource)
            finally:
                if any(isinstance(a, (dev.PlugPort, dev.UnplugPort)) for a in plan):
                    self.ports.touched(desired.name)
                if starter is not None:
                    starter.join()
        if starter is None:
            self._dnsmasq(network, desired.name, port.id)
        if plan:
            LOG.info('network %s converged in %.1f ms (DHCP port %.1f ms, then %d '
                     'actions and dnsmasq)', network.id,
                     (time.monotonic() - started) * 1000, (port_done - started) * 1000,
                     len(plan))
        metadata = metadata_access(network, self.settings).proxy
        self.networks.update(network.id, served=Served(network, port.id, desired.name,
                                                       metadata))
        if metadata or os.path.exists(haproxy.pid_file_path(self.settings.state_path,
                                                            network.id)) \
                or (shared := self._shared()) is not None and shared.serves(network.id):
            # On its own key: a slow haproxy start does not hold up dnsmasq reloads.
            self.enqueue(metadata_key(network.id), METADATA_PRIORITY, 'network converged')
        self._report_ready(network)
        if self.firewall is not None:
            # Last: dnsmasq already answers; the checksum rule matters for offloading
            # guests only.  A new namespace's first restores (two iptables-restore
            # processes) wait for the end of the burst: in 20 networks created
            # back to back they were a quarter of the agent's CPU (0.83 -> 0.61 s),
            # and each network's spent slowed the next ones' way to serving.
            if created:
                with self._lock:
                    self._firewall_due.setdefault(network.id, time.monotonic())
            else:
                with self._lock:
                    self._firewall_due.pop(network.id, None)
                self.firewall.ensure(desired.namespace, False)
            self.apply_firewalls(older_than=FIREWALL_DEFER_MAX)

    def _execute(self, plan: Plan, resource: str) -> None:
        # converge() logs the one INFO line per network (with these steps' time);
        # a new tap's move, MAC, MTU and up are one request (dev.coalesce), its
        # addresses and default route one visit to the namespace
        execute(dev.fold_device_config(dev.coalesce(plan)),
                lambda a: executor.apply(self.drivers, a), resource, LOG,
                summary=logging.DEBUG)

    def _count(self, network_id: str, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if outcome == 'reloaded':
            self.networks.change(network_id, lambda s: s.reloaded(time.monotonic()))

    def _dnsmasq(self, network: Network, device: str, port_id: str) -> None:
        paths = DhcpPaths.of(self.settings, network.id)
        old_leases = leases.read_leases(paths.leases, f'network {network.id}')
        spec = want.dnsmasq_spec(network, device, port_id, self.settings, old_leases)
        observed = self.children.observe(spec)
        if (observed.running and observed.argv_matches and not observed.elsewhere
                and self.releaser is not None):
            # A reload: free the addresses that went away before dnsmasq re-reads.
            self.releaser.release_stale(spec.namespace, device, network, paths.host,
                                        paths.leases)
        # A change restarts instead of SIGHUP where the reload could crash dnsmasq
        # (dnsmasq.avoid_host_tag_reload_crash): judged on the hosts file it loaded
        # last and the leases from before the release above (a released lease was
        # answered too).
        loaded_hosts = fileutils.read_text(paths.host, '', errors='replace') or ''
        crash = dnsmasq.served_tagged_host(loaded_hosts, old_leases)
        plan = child.diff(spec, True, observed,
                          dnsmasq.TAGGED_RELOAD_CRASH if crash else '')
        self._count(network.id, self.children.run(plan, f'network {network.id}', LOG))

    def metadata_spec(self, network_id: str):
        return haproxy.metadata_proxy_spec(
            network_id, 'network', names.dhcp_namespace(network_id),
            self.settings.state_path, haproxy.METADATA_V4_IP,
            haproxy.METADATA_PORT_ISOLATED, self.config.metadata_user,
            self.config.metadata_group, self.config.metadata_socket,
            debug=self.config.debug, rate_limit=self.config.metadata_rate_limit)

    def _shared(self) -> NodeProxy | None:
        """The shared metadata proxy, in that mode (else None)."""
        return self.node_proxy if self.config.metadata_proxy_mode == 'shared' else None

    def metadata_listener(self, network_id: str) -> ListenerSpec:
        """The network's socket of the shared metadata proxy: where its haproxy
        would listen."""
        return ListenerSpec(network_id, 'network', names.dhcp_namespace(network_id),
                            haproxy.METADATA_V4_IP, haproxy.METADATA_PORT_ISOLATED)

    def metadata_proxy(self, network_id: str) -> None:
        """The ``('metadata', id)`` key: run the proxy iff the served network wants it."""
        served = self.networks.served(network_id)
        spec = self.metadata_spec(network_id)
        shared = self._shared()
        resource = f'network {network_id} metadata'
        if served is None or not served.metadata or shared is not None:
            self.children.run(self.children.plan(spec, wanted=False), resource, LOG)
        if served is None or not served.metadata:
            if self.node_proxy is not None:
                self.node_proxy.remove(network_id)
            return FORGET
        if shared is not None:
            listener = self.metadata_listener(network_id)
            if shared.current(listener):
                shared.register(listener)
                self._count(network_id, 'metadata-unchanged')
            else:
                shared.ensure(listener)
                self._count(network_id, 'metadata-started')
            return None
        if self.node_proxy is not None:
            self.node_proxy.remove(network_id)  # left by shared mode: its port first
        outcome = self.children.run(self.children.plan(spec), resource, LOG)
        self._count(network_id, 'metadata-' + outcome)
        return None

    def _report_ready(self, network: Network) -> None:
        current = want.ready_port_ids(network)
        before, _ = self.networks.change(network.id,
                                         lambda s: dataclasses.replace(s, ready=current))
        new = current - before.ready
        if new and self.ready is not None:
            self.ready.add(sorted({port_id for port_id, _ in new}))

    def apply_firewalls(self, older_than: float = 0.0) -> int:
        """Set the iptables of the namespaces made since (waiting ``older_than``
        seconds at least); returns how many.  The queue calls it when idle.  One
        that fails has its network reconciled again (which sets them)."""
        firewall = self.firewall
        if firewall is None:
            return 0
        now = time.monotonic()
        with self._lock:
            due = [n for n, since in self._firewall_due.items() if now - since >= older_than]
            for network_id in due:
                del self._firewall_due[network_id]
        for network_id in due:
            try:
                firewall.ensure(names.dhcp_namespace(network_id), created=True)
            except Exception as exc:  # noqa: BLE001 - the network's run sets them
                LOG.warning('network %s: qdhcp iptables not set (%s); reconciling the '
                            'network again', network_id, exc)
                self.enqueue(network_key(network_id), DEFAULT_PRIORITY, 'iptables')
        return len(due)

    # -- tearing down ---------------------------------------------------------------

    def _devices(self, network_id: str, served: Served | None, ns_exists: bool) -> set:
        found = set()
        if served is not None:
            found.add(served.device)
        paths = DhcpPaths.of(self.settings, network_id)
        name = fileutils.read_text(paths.interface, errors='replace')
        if name and name.startswith(names.TAP_PREFIX) and len(name) <= names.DEV_NAME_LEN:
            found.add(name.strip())
        if ns_exists:
            found.update(d for d in self.drivers.netns.devices_in(
                names.dhcp_namespace(network_id)) if d.startswith(names.TAP_PREFIX))
        return found

    def teardown(self, network_id: str, release: bool):
        """Remove everything of the network from the host; returns FORGET."""
        state = self.networks.remove(network_id)
        served, claimed = state.served, state.claimed
        ns = names.dhcp_namespace(network_id)
        if self.firewall is not None:
            with self._lock:
                self._firewall_due.pop(network_id, None)
            self.firewall.forget(ns)
        paths = DhcpPaths.of(self.settings, network_id)
        has_dir = os.path.isdir(paths.directory)
        ns_exists = self.drivers.netns.exists(ns)
        for spec in (want.stop_spec(network_id, self.settings),
                     self.metadata_spec(network_id)):
            self.children.run(self.children.plan(spec, wanted=False),
                              f'network {network_id} (teardown)', LOG)
        if self.node_proxy is not None:     # before the namespace: its socket holds it
            self.node_proxy.remove(network_id)
        # A proxy start in flight on the metadata key is undone after it finishes.
        self.enqueue(metadata_key(network_id), METADATA_PRIORITY, 'network torn down')
        devices = self._devices(network_id, served, ns_exists)
        plugged = self.ports.refresh() if devices else {}
        ours = sorted(d for d in devices if d in plugged)
        # Only a namespace of ours is removed: another DHCP agent on this host (own
        # state_path and bridge) may serve the same network id.
        ns_ours = ns_exists and (served is not None or has_dir or bool(ours) or claimed)
        had_state = served is not None or has_dir or ns_ours
        plan = dev.teardown_devices(ns, self.config.bridge, ours, ns_ours)
        if plan:
            execute(plan, lambda a: executor.apply(self.drivers, a),
                    f'network {network_id} (teardown)', LOG)
            self.ports.touched(*devices)
        shutil.rmtree(paths.directory, ignore_errors=True)
        self._release_vlan(network_id, devices)
        if release and had_state:
            LOG.info('network %s: releasing the DHCP port', network_id)
            self.plugin.release_dhcp_port(
                network_id, names.dhcp_port_device_id(self.config.host, network_id))
        return FORGET

    def _release_vlan(self, network_id: str, devices: set) -> None:
        if not self.config.local_vlan_tagging:
            return
        tag = self.vlans.allocations().get(network_id)
        if tag is None:
            return
        in_use = [p.name for p in self.ports.refresh().values()
                  if p.tag == tag and p.name not in devices]
        if in_use:
            LOG.debug('network %s: local VLAN %d kept, still used by %s', network_id,
                      tag, ', '.join(in_use))
            return
        self.vlans.release(network_id)
