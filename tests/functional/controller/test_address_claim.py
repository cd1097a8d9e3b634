"""Address claims on PostgreSQL: concurrent port creates of one subnet neither
wait for each other nor get the same address (agent.controller.address_claim).

Transactions are held open by hand here, so the tests can look at the moment
between one create's claim and its commit.  Every transaction has a lock
timeout: a create that waited for another one (as under the old subnet row
lock) fails with a lock timeout instead of passing slowly.
"""

import concurrent.futures
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy import orm

from agent.controller import exceptions as exc
from agent.controller import ports
from agent.controller.context import Context
from agent.controller.db import models
from agent.controller.notify import Outbox
from agent.controller.txn import Txn
from tests.functional.controller.conftest import _empty_tables

pytestmark = pytest.mark.functional


@pytest.fixture
def db_url(shared_pg):
    """PostgreSQL only (the shared database, emptied afterwards)."""
    try:
        yield shared_pg.url
    finally:
        _empty_tables(shared_pg.url)


class OpenTxn:
    """A write transaction of the plugin's kind, committed or rolled back by the test."""

    def __init__(self, plugin):
        self.session = orm.Session(plugin.db.engine, expire_on_commit=False)
        self.session.begin()
        self.session.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
        self.txn = Txn(self.session, Outbox(), plugin.conf, Context.admin())

    def create_port(self, network_id):
        port = ports.create_port(self.txn, {'network_id': network_id})
        return port['fixed_ips'][0]['ip_address']

    def commit(self):
        self.session.commit()
        self.session.close()

    def rollback(self):
        self.session.rollback()
        self.session.close()


def make_subnet(plugin, admin, cidr):
    net = plugin.create_network(admin, {'name': 'claims'})
    plugin.create_subnet(admin, {'network_id': net['id'], 'cidr': cidr, 'ip_version': 4,
                                 'enable_dhcp': False})
    return net['id']


def test_creates_in_flight_take_the_next_address_without_waiting(plugin, admin):
    net_id = make_subnet(plugin, admin, '10.60.0.0/24')
    first, second = OpenTxn(plugin), OpenTxn(plugin)
    try:
        assert first.create_port(net_id) == '10.60.0.2'
        # The first create has not committed: the second skips its address.
        assert second.create_port(net_id) == '10.60.0.3'
    finally:
        first.rollback()
    second.commit()
    # The first rolled back: its address is free again, and the lowest.
    assert plugin.create_port(admin, {'network_id': net_id})['fixed_ips'][0][
        'ip_address'] == '10.60.0.2'
    assert plugin.create_port(admin, {'network_id': net_id})['fixed_ips'][0][
        'ip_address'] == '10.60.0.4'


def test_addresses_all_claimed_in_flight_answer_exhaustion_at_once(plugin, admin):
    net_id = make_subnet(plugin, admin, '10.61.0.0/29')     # .2 - .6: five addresses
    open_txns = [OpenTxn(plugin) for _ in range(6)]
    try:
        ips = [t.create_port(net_id) for t in open_txns[:5]]
        assert sorted(ips) == [f'10.61.0.{i}' for i in range(2, 7)]
        with pytest.raises(exc.IpAddressGenerationFailure):
            open_txns[5].create_port(net_id)
    finally:
        for t in open_txns:
            t.rollback()


def test_parallel_creates_and_deletes_never_share_an_address_or_mac(plugin, admin):
    """8 threads create and delete ports of one small subnet (addresses reused
    as they are freed) and ask for addresses by hand; at every moment the live
    ports' addresses and MACs are distinct, which each create checks against
    what the creates that committed before it returned."""
    net_id = make_subnet(plugin, admin, '10.62.0.0/26')     # 61 addresses
    live: dict[str, str] = {}              # ip -> port id, of committed creates
    macs: dict[str, str] = {}
    guard = threading.Lock()
    clashes, errors = [], []

    def worker(n):
        mine = []
        for i in range(40):
            try:
                if i % 7 == 3:
                    body = {'network_id': net_id,
                            'fixed_ips': [{'ip_address': f'10.62.0.{50 + i % 5}'}]}
                else:
                    body = {'network_id': net_id}
                port = plugin.create_port(admin, body)
            except (exc.IpAddressInUse, exc.IpAddressGenerationFailure) as error:
                errors.append(type(error).__name__)
                continue
            ip = port['fixed_ips'][0]['ip_address']
            with guard:
                if ip in live or port['mac_address'] in macs:
                    clashes.append((ip, port['id'], live.get(ip)))
                live[ip] = port['id']
                macs[port['mac_address']] = port['id']
            mine.append((ip, port['mac_address'], port['id']))
            if i % 3 == 2:                  # free one: its address is reused later
                old_ip, old_mac, old_id = mine.pop(0)
                with guard:                 # gone from the book before the delete
                    del live[old_ip], macs[old_mac]
                plugin.delete_port(admin, old_id)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, range(8)))

    assert clashes == []
    assert set(errors) <= {'IpAddressInUse', 'IpAddressGenerationFailure'}
    with plugin.db.engine.connect() as conn:
        rows = conn.execute(sa.select(models.IPAllocation.ip_address,
                                      models.IPAllocation.port_id)).all()
    assert {ip: port_id for ip, port_id in rows} == live
    assert len(rows) == len(live)
