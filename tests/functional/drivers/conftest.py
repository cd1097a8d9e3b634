"""Fixtures for driver tests: our own netdev bridges and namespaces, removed afterwards."""

import itertools
import uuid

import pytest

from agent.drivers import netns
from agent.drivers.ovs import OvsDriver

OVSDB = 'unix:/var/run/openvswitch/db.sock'
_bridge_seq = itertools.count(1)


@pytest.fixture(scope='session')
def ovs():
    return OvsDriver(OVSDB, timeout=10)


@pytest.fixture
def make_bridge(ovs, run_id, leaks):
    made = []

    def make():
        name = leaks.bridge(f'br-{run_id}-{next(_bridge_seq):x}')   # <= 15 characters
        ovs.ensure_bridge(name, 'netdev')
        made.append(name)
        return name

    yield make
    for name in made:
        ovs.delete_bridge(name)


@pytest.fixture
def make_namespace(leaks):
    made = []

    def make(prefix='qdhcp-'):
        name = leaks.namespace(f'{prefix}{uuid.uuid4()}')
        netns.create(name)
        made.append(name)
        return name

    yield make
    for name in made:
        netns.delete(name, force=True)


def port_name(prefix='tap'):
    return (prefix + str(uuid.uuid4()))[:14]
