import pytest

from tests.functional.helpers.bus import bus_conf, private_vhost


@pytest.fixture(scope='module')
def bus_url(run_id, request):
    name = f'netnode-{run_id}-{request.module.__name__.rsplit(".", 1)[-1]}'
    with private_vhost(name) as url:
        yield url


@pytest.fixture
def make_bus_conf(bus_url, run_id):
    def make(host, server=False):
        return bus_conf(bus_url, f'netnode-{run_id}', f'{run_id}-{host}', server)
    return make
