"""From "ready" to the end, with pingers running (vm1 -> gateway, outside -> floating
IP, 10 per second): restart each agent, wait for three periodic resyncs, churn a
router interface and floating IPs other than the pinged ones.  After each, the data
plane must be as it was: same dnsmasq/haproxy pids, OVS ports, ofports, tags and
iptables."""

from __future__ import annotations

import os
import re
import time

from agent.tools.aio import host
from agent.tools.interop import observe, scenario
from agent.tools.interop.phase import TIMEOUT, Phase
from agent.tools.interop.pinger import Pinger
from agent.tools.interop.settings import RESYNC_INTERVAL

# What netnode's agents log at a full sync (agent.reconcile.runner).
RESYNC_START = r'-full-sync starting: periodic resync'
SYNC_DONE = r'-full-sync done: '
LOSS_BOUND = 30          # pings per pinger (3 s at 10/s): generous, the machine is shared


class Endurance:
    def __init__(self, phase: Phase):
        self.p = phase
        self.changes: dict[str, list[str]] = {}

    def snapshot(self) -> observe.Snapshot:
        s = self.p.s
        ids = {self.p.ids['net'], self.p.ids['router']}
        namespaces = [ns for ns in host.netns_list()
                      if ns.split('-', 1)[-1] in ids and ns.startswith(('qdhcp-', 'qrouter-'))]
        return observe.snapshot(self.p.state_path, (s.int_bridge, s.ex_bridge), namespaces)

    def compare(self, what: str, before: observe.Snapshot, ignore=()) -> str:
        after = self.snapshot()
        # Items that appear (a network created meanwhile) are not changes of what was.
        changed = [c for c in before.diff(after)
                   if ': absent -> ' not in c and not any(i in c for i in ignore)]
        self.changes[what] = changed
        if changed:
            raise host.StepFailed(f'{what} changed {len(changed)} thing(s):\n  '
                                  + '\n  '.join(changed[:25]))
        return f'{len(before.items)} items unchanged'

    def run(self) -> bool:
        c, p = self.p.console, self.p
        s = p.s
        vm1 = p.vm1
        with c.step('other subnet (churn-net) and a port for floating-IP churn') as notes:
            net, sub = p.network('churn-net', scenario.CHURN_CIDR)
            p.ids.update(churn_net=net['id'], churn_subnet=sub['id'])
            spare = p.client.create('port', 'ports', {'network_id': p.ids['net'],
                                                      'name': 'churn-port'})
            p.ids['spare'] = spare['id']
            p.wait(p.served(net['id']), 'dnsmasq on churn-net')
            notes.append(f'churn-net {net["id"]}')
        pingers = [Pinger('vm1 -> gateway', vm1['namespace'], scenario.TENANT_GATEWAY,
                          s.path('log', 'ping-gateway.out')),
                   Pinger('outside -> floating IP', s.outside_ns, p.fip,
                          s.path('log', 'ping-fip.out'))]
        ok = True
        try:
            ok &= self._restarts()
            ok &= c.check(f'three periodic resyncs (resync_interval {RESYNC_INTERVAL} s) '
                          'change nothing', self._resyncs)
            ok &= c.check('router interface remove/add on churn-net changes nothing else',
                          self._interface_churn)
            ok &= c.check('floating-IP churn on another port changes nothing else',
                          self._fip_churn)
            ok &= c.check(f'the VM port {vm1["device"]} survived everything', self._vm_alive)
        finally:
            results = [(pg.what, *pg.stop()) for pg in pingers]
        for what, sent, lost in results:
            ok &= c.check(f'pinger {what}: at most {LOSS_BOUND} lost',
                          self._loss, what, sent, lost)
        self.losses = results
        return ok

    def _restarts(self) -> bool:
        ok = True
        for kind in ('dhcp', 'l3', 'metadata'):
            def one(kind=kind):
                before, synced = self.snapshot(), self._count(kind, SYNC_DONE)
                if kind == 'dhcp':
                    note = self.p.restart_dhcp_timed()
                else:
                    self.p.restart(kind)
                    note = 'alive again'
                if kind != 'metadata':      # it has no full sync: alive is all
                    host.wait_for(lambda: self._count(kind, SYNC_DONE) > synced, TIMEOUT,
                                  0.2, f'the first full sync of the {kind} agent')
                    note += ', first full sync done'
                return f'{note}; {self.compare(f"{kind} agent restart", before)}'
            ok &= self.p.console.check(f'{self.p.agent(kind)} restart changes nothing', one)
        return ok

    def _count(self, kind: str, pattern: str) -> int:
        """How many times the agent's log says ``pattern``."""
        path = os.path.join(self.p.s.log_dir, f'{self.p.agent(kind)}.log')
        with open(path, errors='replace') as f:
            return len(re.findall(pattern, f.read()))

    def _resync_count(self) -> int:
        return min(self._count(kind, RESYNC_START) for kind in ('dhcp', 'l3'))

    def _resyncs(self) -> str:
        before, start = self.snapshot(), self._resync_count()
        done = min(self._count(kind, SYNC_DONE) for kind in ('dhcp', 'l3'))
        host.wait_for(lambda: self._resync_count() >= start + 3 and min(
            self._count(kind, SYNC_DONE) for kind in ('dhcp', 'l3')) >= done + 3,
            3 * RESYNC_INTERVAL + 90, 0.5, 'three periodic resyncs of the DHCP and L3 agents')
        return f'{self._resync_count() - start} resyncs; {self.compare("resyncs", before)}'

    def _interface_churn(self) -> str:
        p = self.p
        before = self.snapshot()
        rid, sub = p.ids['router'], p.ids['churn_subnet']
        times = []
        for _ in range(2):
            t0 = time.monotonic()
            p.client.request('PUT', f'/routers/{rid}/add_router_interface',
                             {'subnet_id': sub})
            port = scenario.router_port(p.client, rid, sub, 'network:router_interface')
            dev = observe.device('qr-', port['id'])
            p.wait(lambda: observe.device_up(f'qrouter-{rid}', dev)
                   and observe.port_bound(dev), f'{dev} up')
            times.append(time.monotonic() - t0)
            p.client.request('PUT', f'/routers/{rid}/remove_router_interface',
                             {'subnet_id': sub})
            host.wait_for(lambda: dev not in host.ovs('list-ports', p.s.int_bridge).stdout,
                          TIMEOUT, 0.05, f'{dev} removed')
        return (f'qr- up in {", ".join(f"{t:.2f}" for t in times)} s; '
                # churn-net's isolated-metadata proxy stops and starts with its router
                # interface, as it should.
                + self.compare('interface churn', before, ignore=(p.ids['churn_net'],)))

    def _fip_churn(self) -> str:
        p = self.p
        before = self.snapshot()
        ns = f'qrouter-{p.ids["router"]}'
        for _ in range(2):
            fip = p.client.create('floatingip', 'floatingips',
                                  {'floating_network_id': p.ids['public'],
                                   'port_id': p.ids['spare']})
            addr = fip['floating_ip_address']
            host.wait_for(lambda: addr in host.in_ns(ns, 'iptables-save', '-t', 'nat',
                                                     log=False).stdout,
                          TIMEOUT, 0.05, f'DNAT for {addr}')
            p.client.delete('floatingips', fip['id'])
            host.wait_for(lambda: addr not in host.in_ns(ns, 'iptables-save', '-t', 'nat',
                                                         log=False).stdout,
                          TIMEOUT, 0.05, f'DNAT for {addr} gone')
        return self.compare('floating-IP churn', before)

    def _vm_alive(self) -> str:
        dev = self.p.vm1['device']
        port = observe.ovs_ports([self.p.s.int_bridge]).get(dev)
        if not port:
            raise host.StepFailed(f'{dev} is gone from {self.p.s.int_bridge}')
        if not observe.port_bound(dev):
            raise host.StepFailed(f'{dev} is not bound: tag {port.get("tag")}')
        return f'{dev}: ofport {port["ofport"]}, tag {port["tag"]}'

    @staticmethod
    def _loss(what: str, sent: int, lost: int) -> str:
        if sent == 0:
            raise host.StepFailed(f'{what}: no ping summary')
        if lost > LOSS_BOUND:
            raise host.StepFailed(f'{what}: {lost} of {sent} lost')
        return f'{lost} of {sent} lost'
