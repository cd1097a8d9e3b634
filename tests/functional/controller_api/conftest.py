"""Real netnode-server processes (SQLite and PostgreSQL) for the API tests."""

import uuid

import pytest

from tests.functional.controller_api.server_process import (
    ServerProcess, create_pg_database, drop_pg_database)


def start_server(request, tmp_path_factory, run_id, leaks, backend, api_workers=1,
                 name='api', **kwargs):
    base = tmp_path_factory.mktemp(f'{run_id}-{name}-{backend}')
    dbname = None
    connection = None
    if backend == 'postgresql':
        dbname = f'netnode_{run_id}_{name}_{uuid.uuid4().hex[:6]}'
        connection = create_pg_database(dbname)
    server = ServerProcess(str(base), connection=connection, api_workers=api_workers,
                           debug=True, **kwargs)
    leaks.process_marker(server.marker)

    def cleanup():
        server.stop()
        if dbname:
            drop_pg_database(dbname)
    request.addfinalizer(cleanup)
    return server.start()


@pytest.fixture(scope='module', params=['sqlite', 'postgresql'])
def server(request, tmp_path_factory, run_id, leaks):
    return start_server(request, tmp_path_factory, run_id, leaks, request.param)
