import threading
import time

import pytest

from agent.common import polling
from agent.reconcile.queue import WorkQueue
from agent.reconcile.runner import SyncRunner


class Recorder:
    """fetch_all / prune doubles: fetch results come from a list of outcomes."""

    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.fetches = []
        self.prunes = []
        self.lock = threading.Lock()

    def fetch_all(self):
        with self.lock:
            self.fetches.append(time.monotonic())
            outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def prune(self, keys):
        with self.lock:
            self.prunes.append(keys)


def wait_for(predicate, timeout=5.0):
    return bool(polling.poll(predicate, timeout, 0.005))


@pytest.fixture
def harness():
    made = []

    def build(outcomes, **kw):
        handled = []
        rec = Recorder(outcomes)
        q = WorkQueue(handled.append, paused=True, workers=2).start()
        kw.setdefault('resync_interval', 3600)
        kw.setdefault('resync_throttle', 0)
        kw.setdefault('retry_base', 0.01)
        kw.setdefault('retry_max', 0.02)
        runner = SyncRunner(rec.fetch_all, q, rec.prune, **kw)
        made.append((runner, q))
        return runner, q, rec, handled

    yield build
    for runner, q in made:
        assert runner.stop(timeout=5)
        assert q.stop(timeout=5)


def test_successful_sync_enqueues_every_key_prunes_and_opens_the_gate(harness):
    runner, q, rec, handled = harness([{'n1': object(), 'n2': object()}])
    q.enqueue('n3', reason='port_update_end')      # queued before the gate opens
    assert not runner.in_sync.is_set()
    runner.start()
    assert runner.in_sync.wait(5)
    assert q.wait_idle(5)
    assert wait_for(lambda: rec.prunes)          # the gate opens before the prune
    assert rec.prunes == [frozenset({'n1', 'n2'})]
    assert sorted(handled) == ['n1', 'n2', 'n3']
    assert runner.status.syncs == 1 and runner.status.last_keys == 2


def test_failed_fetch_prunes_nothing_and_is_retried(harness):
    runner, q, rec, handled = harness([TimeoutError('sync_routers timed out'),
                                       RuntimeError('broker gone'), {'n1': 1}])
    runner.start()
    assert runner.in_sync.wait(5)
    assert len(rec.fetches) == 3
    assert rec.prunes == [frozenset({'n1'})]
    assert runner.status.failures == 0


def test_data_plane_untouched_while_fetch_keeps_failing(harness):
    runner, q, rec, handled = harness([RuntimeError('no controller')])
    q.enqueue('n1', reason='network_create_end')
    runner.start()
    assert wait_for(lambda: len(rec.fetches) >= 3)
    assert rec.prunes == []
    assert handled == []
    assert not runner.in_sync.is_set()
    assert runner.status.failures >= 3
    assert runner.status.last_error == 'RuntimeError: no controller'


def test_non_mapping_result_counts_as_failure(harness):
    runner, q, rec, handled = harness([None, {'a': 1}])
    runner.start()
    assert runner.in_sync.wait(5)
    assert wait_for(lambda: rec.prunes)
    assert rec.prunes == [frozenset({'a'})]


def test_periodic_resync_fires(harness):
    runner, q, rec, handled = harness([{'a': 1}], resync_interval=0.05)
    runner.start()
    assert wait_for(lambda: len(rec.prunes) >= 3)


def test_throttle_coalesces_requests(harness):
    runner, q, rec, handled = harness([{'a': 1}], resync_throttle=0.3)
    runner.start()
    assert runner.in_sync.wait(5)
    for i in range(20):
        runner.request_full_sync(f'reconnect {i}')
    time.sleep(0.15)
    assert len(rec.fetches) == 1            # throttled
    assert wait_for(lambda: len(rec.fetches) == 2)
    time.sleep(0.4)
    assert len(rec.fetches) == 2            # twenty requests, one sync
    assert rec.fetches[1] - rec.fetches[0] >= 0.29


def test_prune_failure_does_not_stop_the_runner(harness):
    runner, q, rec, handled = harness([{'a': 1}], resync_interval=0.05)

    calls = []

    def bad_prune(keys):
        calls.append(keys)
        raise OSError('netns list failed')

    runner._prune = bad_prune
    runner.start()
    assert wait_for(lambda: len(calls) >= 2)
    assert runner.in_sync.is_set()


def test_on_fetched_sees_the_objects_before_keys_are_enqueued(harness):
    seen = []
    runner, q, rec, handled = harness([{'a': 'A'}], on_fetched=seen.append)
    runner.start()
    assert runner.in_sync.wait(5)
    assert seen == [{'a': 'A'}]


def test_stop_joins_runner_and_queue_threads():
    rec = Recorder([{'a': 1}])
    q = WorkQueue(lambda k: None, paused=True, workers=3, name='stopq').start()
    runner = SyncRunner(rec.fetch_all, q, rec.prune, resync_interval=3600,
                        name='stoprunner').start()
    assert runner.in_sync.wait(5)
    assert runner.stop(timeout=5)
    assert q.stop(timeout=5)
    names = [t.name for t in threading.enumerate()]
    assert not [n for n in names if n.startswith(('stopq', 'stoprunner'))]


def test_queue_opens_before_the_prune_and_in_sync_after_it(harness):
    """An event queued before the first fetch runs while that sync's prune still
    walks the host (an agent restart serves new work at once); ``in_sync`` waits
    for the prune."""
    runner, q, rec, handled = harness([{'n1': object()}])
    during_prune = {}

    def slow_prune(keys):
        during_prune['event handled'] = wait_for(lambda: 'n2' in handled)
        during_prune['in sync'] = runner.in_sync.is_set()

    runner._prune = slow_prune
    q.enqueue('n2', priority=10, reason='network_create_end')
    runner.start()
    assert runner.in_sync.wait(5)
    assert during_prune == {'event handled': True, 'in sync': False}
