"""Acceptance: concurrent port creates on a small subnet, with two API workers.

200 creates from 8 threads on a /25 (125 free addresses): some creates must hit
exhaustion (409 IpAddressGenerationFailure), every returned address is unique,
and the API's port count equals the successes.
"""

import concurrent.futures
import uuid

import pytest

from tests.functional.controller_api.conftest import start_server

pytestmark = pytest.mark.functional

PORTS = 200
THREADS = 8


@pytest.fixture(scope='module', params=['sqlite', 'postgresql'])
def workers_server(request, tmp_path_factory, run_id, leaks):
    return start_server(request, tmp_path_factory, run_id, leaks, request.param,
                        api_workers=2, name='alloc')


def test_concurrent_port_creates_exhaust_cleanly(workers_server):
    server = workers_server
    _, net = server.call('POST', '/v2.0/networks',
                         {'network': {'name': f'alloc-{uuid.uuid4().hex[:6]}'}})
    net_id = net['network']['id']
    status, sub = server.call('POST', '/v2.0/subnets', {'subnet': {
        'network_id': net_id, 'cidr': '10.50.0.0/25', 'ip_version': 4,
        'enable_dhcp': False}})
    assert status == 201, sub

    def create(i):
        return server.call('POST', '/v2.0/ports',
                           {'port': {'network_id': net_id, 'name': f'p{i}'}})

    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(create, range(PORTS)))

    created = [doc['port'] for status, doc in results if status == 201]
    failed = [doc for status, doc in results if status != 201]
    assert len(created) == 125, [f for f in failed if f.get('NeutronError', {}).get(
        'type') != 'IpAddressGenerationFailure'][:3]
    assert len(failed) == PORTS - 125
    assert all(status == 409 and doc['NeutronError']['type'] == 'IpAddressGenerationFailure'
               for status, doc in results if status != 201)
    ips = [ip['ip_address'] for p in created for ip in p['fixed_ips']]
    assert len(ips) == len(set(ips)) == len(created)
    macs = [p['mac_address'] for p in created]
    assert len(set(macs)) == len(macs)
    _, listed = server.call('GET', f'/v2.0/ports?network_id={net_id}&fields=id')
    assert len(listed['ports']) == len(created)
