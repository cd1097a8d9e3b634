"""The test bed of the multi-node tests (helpers/testbed): one per module, built
from the run id; its nodes are registered with the leak check (processes left in
their namespaces, the fabric and probe namespaces, its directory as a marker)."""

import os
import tempfile

import pytest

from tests.functional.helpers.testbed import TestBed


def make_testbed(run_id, leaks, tag, **kwargs):
    base = tempfile.mkdtemp(prefix=f'netnode-{run_id}-tb{tag}-')
    leaks.process_marker(base)
    prefix = f'{run_id}{tag}'
    bed = TestBed(base, prefix, **kwargs)
    for ns in (bed.fabric.ns, bed.outside):
        leaks.namespace(ns)
    return bed


def register_nodes(bed, leaks):
    for node in (bed.controller, bed.compute, *bed.nodes.values()):
        if node.alive():
            namespaces = node.namespaces()
            leaks.node(namespaces.net, namespaces.mnt)


@pytest.fixture(scope='module')
def testbed_factory(run_id, leaks):
    """Builds test beds (``factory(tag, **TestBed kwargs)``), all removed at the end."""
    beds = []

    def factory(tag, **kwargs):
        bed = make_testbed(run_id, leaks, tag, **kwargs)
        beds.append(bed)
        try:
            bed.up()
        finally:
            register_nodes(bed, leaks)
        print(f'\ntest bed {bed.prefix}: up in {bed.timings["up"]:.1f} s')
        return bed

    yield factory
    for bed in beds:
        took = bed.down()
        print(f'\ntest bed {bed.prefix}: down in {took:.1f} s')
        assert not os.path.exists(bed.base)
