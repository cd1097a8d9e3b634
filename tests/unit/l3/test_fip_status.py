"""update_floatingip_statuses sends only changes: tables of (router, ok, known) -> sent."""

import dataclasses

from agent.l3.fip_status import FloatingIpStatusReporter, status_changes
from tests.unit.l3.golden import fip, golden_router

FIP = fip('172.24.4.162', '192.168.10.93')
OTHER = dataclasses.replace(fip('172.24.4.170', '192.168.10.94',
                                '7b5b7c4e-0b1e-4a0e-9f3e-2f1f1a1a1a1a'))


def router(*fips):
    return golden_router(floating_ips=fips)


def test_changes_table():
    active = dataclasses.replace(FIP, status='ACTIVE')
    cases = [
        (router(FIP), True, {}, {FIP.id: 'ACTIVE'}),            # server says DOWN
        (router(active), True, {}, {}),                          # already ACTIVE
        (router(active), False, {}, {FIP.id: 'ERROR'}),          # the plan failed
        (router(), True, {FIP.id: 'ACTIVE'}, {FIP.id: 'DOWN'}),  # disassociated
        (None, True, {FIP.id: 'ACTIVE'}, {FIP.id: 'DOWN'}),      # router gone
        (golden_router(gw_port=None, floating_ips=(active,)), True, {}, {FIP.id: 'DOWN'}),
        (router(FIP, OTHER), True, {FIP.id: 'ACTIVE'}, {OTHER.id: 'ACTIVE'}),
    ]
    for r, ok, known, expected in cases:
        assert status_changes(r, ok, known) == expected, (r, ok, known)


def test_reporter_sends_once_and_retries_after_a_failure():
    sent, fail = [], [True]

    def send(router_id, statuses):
        if fail[0]:
            fail[0] = False
            raise TimeoutError('bus down')
        sent.append((router_id, statuses))

    reporter = FloatingIpStatusReporter(send)
    r = router(FIP)
    assert reporter.report(r.id, r, True) == {}           # failed: not remembered
    assert reporter.report(r.id, r, True) == {FIP.id: 'ACTIVE'}
    assert reporter.report(r.id, r, True) == {}           # converged: no call
    assert reporter.report(r.id, router(), True) == {FIP.id: 'DOWN'}
    assert reporter.report(r.id, router(), True) == {}
    assert len(sent) == 2 and reporter.calls == 2
