"""netnode-server's process model: forked workers respawned, SIGTERM stops all."""

import os
import signal
import socket

import pytest

from agent.common import polling

from tests.functional.controller_api.conftest import start_server

pytestmark = pytest.mark.functional


def _children(pid):
    kids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != 'Z':
            kids.append(int(entry))
    return sorted(kids)


def _wait(predicate, timeout=15.0):
    return polling.poll(predicate, timeout, 0.1)


def test_dead_worker_respawned_and_sigterm_stops_all(request, tmp_path_factory, run_id,
                                                     leaks):
    server = start_server(request, tmp_path_factory, run_id, leaks, 'sqlite',
                          api_workers=2, name='proc')
    parent = server.proc.pid
    workers = _wait(lambda: len(_children(parent)) == 2 and _children(parent))
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    respawned = _wait(lambda: (len(set(_children(parent)) - {workers[0]}) == 2
                               and _children(parent)))
    assert respawned and workers[0] not in respawned
    for _ in range(6):          # both workers answer
        assert server.call('GET', '/v2.0/networks')[0] == 200
    assert 'respawning' in server.tail(100)
    assert server.stop() == 0
    assert all(not os.path.exists(f'/proc/{pid}') or _is_zombie(pid)
               for pid in respawned)


def _is_zombie(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return True


@pytest.mark.parametrize('api_workers', [1, 2])
def test_sighup_reloads_and_keeps_serving(request, tmp_path_factory, run_id, leaks,
                                          api_workers):
    """``systemctl reload`` sends SIGHUP: the server re-reads its files, and neither
    it nor its workers die."""
    server = start_server(request, tmp_path_factory, run_id, leaks, 'sqlite',
                          api_workers=api_workers, name=f'hup{api_workers}')
    parent = server.proc.pid
    if api_workers > 1:
        workers = _wait(lambda: len(_children(parent)) == 2 and _children(parent))
    else:
        workers = []
    os.kill(parent, signal.SIGHUP)
    assert _wait(lambda: server.tail(200).count('configuration files re-read') >= max(
        1, api_workers))
    assert server.proc.poll() is None
    assert sorted(_children(parent)) == sorted(workers)       # none died or respawned
    assert server.call('GET', '/v2.0/networks')[0] == 200
    assert server.stop() == 0


def test_single_process_server_stops_on_sigterm(request, tmp_path_factory, run_id, leaks):
    server = start_server(request, tmp_path_factory, run_id, leaks, 'sqlite', name='one')
    assert _children(server.proc.pid) == []
    assert server.call('GET', '/')[0] == 200
    assert server.stop() == 0


def test_rpc_servers_run_in_their_own_worker(request, tmp_path_factory, run_id, leaks):
    """With the bus on (a private exchange on the local RabbitMQ), 2 API + 1 RPC worker."""
    exchange = f'netnode-{run_id}-api-rpc'
    server = start_server(request, tmp_path_factory, run_id, leaks, 'sqlite',
                          api_workers=2, name='rpc', enable_rpc=True,
                          extra_conf=f'control_exchange = {exchange}\n'
                                     f'transport_url = rabbit://guest:guest@127.0.0.1:5672/')
    assert _wait(lambda: 'RPC servers started' in server.tail(200), 30)
    assert len(_children(server.proc.pid)) == 3
    assert server.call('GET', '/v2.0/agents')[0] == 200
    assert server.stop() == 0


@pytest.mark.parametrize('api_workers', [1, 2])
def test_ready_notification_and_sigusr2_report(request, tmp_path_factory, run_id, leaks,
                                               api_workers):
    """Type=notify: READY=1 once the API listens, from the main process (systemd's
    NotifyAccess=main), through a stand-in NOTIFY_SOCKET; SIGUSR2 logs a report
    and kills neither the server nor its workers."""
    path = tmp_path_factory.mktemp(f'{run_id}-notify{api_workers}') / 'notify'
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(30)
        server = start_server(request, tmp_path_factory, run_id, leaks, 'sqlite',
                              api_workers=api_workers, name=f'notify{api_workers}',
                              env={'NOTIFY_SOCKET': str(path)})
        message = sock.recv(4096).decode().split('\n')
    assert message == ['READY=1', f'STATUS=REST API on http://127.0.0.1:{server.port}/']
    parent = server.proc.pid
    workers = (_wait(lambda: len(_children(parent)) == 2 and _children(parent))
               if api_workers > 1 else [])
    os.kill(parent, signal.SIGUSR2)
    assert _wait(lambda: ' Configuration ' in server._read(server.log_path), 30)
    assert 'Guru Meditation Report (SIGUSR2) of netnode-server' in server._read(
        server.log_path)
    assert server.proc.poll() is None and server.call('GET', '/v2.0/networks')[0] == 200
    assert _children(parent) == workers
    assert server.stop() == 0
