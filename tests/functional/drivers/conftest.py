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
    # ovs-vswitchd on a busy 2-core machine may take seconds to apply a change.
    return OvsDriver(OVSDB, timeout=30)


@pytest.fixture
def make_bridge(ovs, run_id, leaks):
    made = []

    def make():
        name = leaks.bridge(f'br-{run_id}-{next(_bridge_seq):x}')   # <= 15 characters
        made.append(name)        # first: a create that timed out may still land
        ovs.ensure_bridge(name, 'netdev')
        return name

    yield make
    for name in made:
        ovs.delete_bridge(name)


@pytest.fixture
def make_namespace(leaks):
    made = []

    def make(prefix='qdhcp-'):
        name = leaks.namespace(f'{prefix}{uuid.uuid4()}')
        made.append(name)
        netns.create(name)
        return name

    yield make
    for name in made:
        netns.delete(name, force=True)


def port_name(prefix='tap'):
    return (prefix + str(uuid.uuid4()))[:14]
