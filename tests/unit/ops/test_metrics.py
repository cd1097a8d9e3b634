"""The exposition text of an agent's snapshot (a literal table), the run
histogram, the snapshot of a real work queue, the report's agent sections, and
the endpoint over a real socket."""

import threading
import urllib.error
import urllib.request

import pytest

from agent.ops import gmr, introspect, metrics
from agent.reconcile import stats
from agent.reconcile.queue import WorkQueue
from agent.reconcile.runner import SyncStatus


def histogram(*durations):
    runs = stats.RunStats()
    for seconds in durations:
        runs.record(stats.SUCCESS, seconds)
    return runs.snapshot()


def test_histogram_is_cumulative_with_sum_and_count():
    h = histogram(0.001, 0.02, 0.02, 3.0, 100.0)[stats.SUCCESS]
    assert dict(zip(stats.BUCKETS, h.buckets)) == {
        0.005: 1, 0.01: 1, 0.025: 3, 0.05: 3, 0.1: 3, 0.25: 3, 0.5: 3, 1.0: 3,
        2.5: 3, 5.0: 4, 10.0: 4, 30.0: 4, 60.0: 4}
    assert h.count == 5 and h.total == pytest.approx(103.041)
    assert histogram()[stats.FAILURE] == stats.Histogram((0,) * len(stats.BUCKETS), 0, 0.0)


VIEW = introspect.AgentView(
    queue=introspect.QueueView(depth=3, in_flight=("('network', 'n1')",), paused=False,
                               workers_alive=True,
                               keys={'pending': 3, 'done': 7, 'error': 1},
                               runs=histogram(0.02)),
    sync=SyncStatus(syncs=4, failures=0, last_keys=11, last_duration=0.5,
                    last_success_at=1000.0),
    in_sync=True,
    children=(introspect.Child('dnsmasq', 'n1', 10, 'running'),
              introspect.Child('dnsmasq', 'n2', None, 'dead'),
              introspect.Child('haproxy', 'n1', 12, 'running')),
    bus_up=False, last_heartbeat=None, taken_at=1012.5)


def test_render_literal():
    text = metrics.render('netnode-dhcp-agent', VIEW)
    samples = [line for line in text.splitlines() if not line.startswith('#')]
    a = 'agent="netnode-dhcp-agent"'
    assert samples[:3] == [f'netnode_queue_depth{{{a}}} 3',
                           f'netnode_queue_in_flight{{{a}}} 1',
                           f'netnode_queue_paused{{{a}}} 0']
    for line in (f'netnode_reconcile_keys{{{a},state="error"}} 1',
                 f'netnode_reconcile_duration_seconds_bucket{{{a},outcome="success",le="0.01"}} 0',
                 f'netnode_reconcile_duration_seconds_bucket{{{a},outcome="success",le="0.025"}} 1',
                 f'netnode_reconcile_duration_seconds_bucket{{{a},outcome="success",le="+Inf"}} 1',
                 f'netnode_reconcile_duration_seconds_count{{{a},outcome="success"}} 1',
                 f'netnode_reconcile_duration_seconds_count{{{a},outcome="failure"}} 0',
                 f'netnode_full_syncs_total{{{a}}} 4',
                 f'netnode_seconds_since_full_sync{{{a}}} 12.5',
                 f'netnode_in_sync{{{a}}} 1',
                 f'netnode_bus_up{{{a}}} 0',
                 f'netnode_children{{{a},kind="dnsmasq",state="running"}} 1',
                 f'netnode_children{{{a},kind="dnsmasq",state="dead"}} 1',
                 f'netnode_children{{{a},kind="haproxy",state="running"}} 1',
                 f'netnode_children{{{a},kind="haproxy",state="dead"}} 0'):
        assert line in samples, line
    # every family announced once, before its samples
    types = [line.split()[2] for line in text.splitlines() if line.startswith('# TYPE')]
    assert len(types) == len(set(types))
    assert '# TYPE netnode_reconcile_duration_seconds histogram' in text


def test_render_before_the_first_sync_and_without_a_queue():
    view = introspect.AgentView(None, None, None, (), None, None, 5.0)
    assert metrics.render('netnode-metadata-agent', view).splitlines() == [
        '# HELP netnode_children Child processes the agent watches, by kind and state.',
        '# TYPE netnode_children gauge']
    never = introspect.AgentView(None, SyncStatus(), False, (), True, None, 5.0)
    assert 'netnode_seconds_since_full_sync{agent="x"} +Inf' in metrics.render('x', never)


def test_label_values_are_escaped():
    assert metrics._labels(kind='a"b\\c\nd') == '{kind="a\\"b\\\\c\\nd"}'


class Agent:
    """What snapshot() reads of an agent, around a real work queue."""

    def __init__(self, queue):
        self.queue = queue


def test_snapshot_of_a_running_queue_shows_the_key_in_flight():
    running = threading.Event()
    release = threading.Event()

    def handler(key):
        running.set()
        release.wait(10)
    queue = WorkQueue(handler, workers=1, name='t').start()
    try:
        queue.enqueue(('network', 'n1'))
        queue.enqueue(('network', 'n2'))
        assert running.wait(10)
        view = introspect.snapshot(Agent(queue))
        assert view.queue.in_flight == ("('network', 'n1')",)
        assert view.queue.depth == 1 and view.queue.workers_alive
        assert view.children == () and view.sync is None and view.bus_up is None
        release.set()
        assert queue.wait_idle(10)
        assert introspect.snapshot(Agent(queue)).queue.runs[stats.SUCCESS].count == 2
    finally:
        release.set()
        queue.stop(5)
    assert not queue.workers_alive()


def test_report_sections_of_an_agent():
    sections = dict(gmr.agent_sections(VIEW))
    assert sections['Work queue']['depth (waiting)'] == 3
    assert sections['Work queue']['keys in flight'] == ["('network', 'n1')"]
    assert sections['Full sync']['seconds since the last'] == 12.5
    assert sections['Bus'] == {'report_state delivered': False, 'last answer': 'none'}
    assert sections['Children'] == {'dnsmasq n1': 'pid 10, running', 'dnsmasq n2': 'dead',
                                    'haproxy n1': 'pid 12, running'}


def test_endpoint_serves_metrics_only(tmp_path):
    queue = WorkQueue(lambda key: None, workers=1, name='t').start()
    server = metrics.MetricsServer('netnode-test', Agent(queue), '127.0.0.1', 0).start()
    try:
        host, port = server.address
        with urllib.request.urlopen(f'http://{host}:{port}/metrics', timeout=10) as resp:
            assert resp.status == 200
            assert resp.headers['Content-Type'] == metrics.CONTENT_TYPE
            assert 'netnode_queue_depth{agent="netnode-test"} 0' in resp.read().decode()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f'http://{host}:{port}/other', timeout=10)
        assert err.value.code == 404
    finally:
        server.stop()
        queue.stop(5)


def test_metadata_requests_by_result():
    class Metadata:
        def request_counts(self):
            return {'ok': 5, 'not_found': 2}
    view = introspect.snapshot(Metadata())
    assert view.requests == {'ok': 5, 'not_found': 2}
    text = metrics.render('netnode-metadata-agent', view)
    a = 'agent="netnode-metadata-agent"'
    assert f'netnode_metadata_requests_total{{{a},result="not_found"}} 2' in text
    assert f'netnode_metadata_requests_total{{{a},result="ok"}} 5' in text
