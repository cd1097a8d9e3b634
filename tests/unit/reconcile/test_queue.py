import threading
import time

import pytest

from agent.reconcile import queue as wq
from agent.reconcile.status import DONE, ERROR, PENDING


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def make(handler, **kw):
    kw.setdefault('backoff_base', 0.01)
    kw.setdefault('backoff_max', 0.05)
    return wq.WorkQueue(handler, **kw)


@pytest.fixture
def queues():
    made = []
    yield made
    for q in made:
        assert q.stop(timeout=5)


def test_waiting_key_is_deduplicated_best_priority_and_reasons_merged(queues):
    ran = []
    q = make(ran.append, paused=True, workers=1)
    queues.append(q.start())
    q.enqueue('a', priority=5, reason='port update')
    q.enqueue('a', priority=1, reason='subnet create')
    q.enqueue('a', priority=9, reason='port update')
    q.enqueue('b', priority=3)
    assert len(q) == 2
    assert q.status.get('a').reasons == ('port update', 'subnet create')
    assert q.status.get('a').state == PENDING
    q.resume()
    assert q.wait_idle(5)
    assert ran == ['a', 'b']          # 'a' took priority 1


@pytest.mark.parametrize('enqueued, expected', [
    ([('x', 5), ('y', 1), ('z', 3)], ['y', 'z', 'x']),
    ([('x', 2), ('y', 2), ('z', 2)], ['x', 'y', 'z']),           # FIFO within a priority
    ([('x', 2), ('y', 2), ('x', 1)], ['x', 'y']),
    ([('x', 0), ('y', 255), ('z', 0), ('w', 6)], ['x', 'z', 'w', 'y']),
])
def test_priority_order(queues, enqueued, expected):
    ran = []
    q = make(ran.append, paused=True, workers=1)
    queues.append(q.start())
    for key, prio in enqueued:
        q.enqueue(key, priority=prio)
    q.resume()
    assert q.wait_idle(5)
    assert ran == expected


def test_a_key_never_runs_twice_at_once(queues):
    lock = threading.Lock()
    active = {}
    overlaps = []
    runs = []

    def handler(key):
        with lock:
            if active.get(key):
                overlaps.append(key)
            active[key] = True
        time.sleep(0.002)
        with lock:
            active[key] = False
            runs.append(key)

    q = make(handler, workers=8)
    queues.append(q.start())
    producers = [threading.Thread(target=lambda: [q.enqueue(f'k{i % 4}')
                                                  for i in range(200)])
                 for _ in range(4)]
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    assert q.wait_idle(10)
    assert overlaps == []
    assert set(runs) == {'k0', 'k1', 'k2', 'k3'}


def test_different_keys_run_in_parallel_bounded(queues):
    lock = threading.Lock()
    current = [0, 0]   # now, max

    def handler(key):
        with lock:
            current[0] += 1
            current[1] = max(current[1], current[0])
        time.sleep(0.05)
        with lock:
            current[0] -= 1

    q = make(handler, workers=3)
    queues.append(q.start())
    for i in range(9):
        q.enqueue(i)
    assert q.wait_idle(5)
    assert current[1] == 3


def test_burst_during_a_slow_run_coalesces_into_one_extra_run(queues):
    started = threading.Event()
    release = threading.Event()
    runs = []

    def handler(key):
        runs.append(key)
        started.set()
        release.wait(5)

    q = make(handler, workers=4)
    queues.append(q.start())
    q.enqueue('net')
    assert started.wait(5)
    for i in range(100):
        q.enqueue('net', reason=f'event {i}')
    release.set()
    assert q.wait_idle(5)
    assert len(runs) <= 2
    assert q.status.get('net').state == DONE


def test_failures_retry_with_backoff_then_error(queues):
    times = []

    def handler(key):
        times.append(time.monotonic())
        raise RuntimeError('ovs down')

    q = make(handler, max_retries=3, backoff_base=0.02, backoff_max=1, jitter=0)
    queues.append(q.start())
    q.enqueue('net')
    assert q.wait_idle(5)
    assert len(times) == 4                     # first try + 3 retries
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[0] >= 0.018 and gaps[1] >= 0.038 and gaps[2] >= 0.078
    status = q.status.get('net')
    assert status.state == ERROR
    assert status.attempts == 4
    assert status.last_error == 'RuntimeError: ovs down'
    assert q.status.counts() == {'pending': 0, 'done': 0, 'error': 1}
    assert q.status.errors() == {'net': 'RuntimeError: ovs down'}


def test_success_after_a_failure_clears_the_error(queues):
    calls = []

    def handler(key):
        calls.append(key)
        if len(calls) == 1:
            raise OSError('busy')

    q = make(handler)
    queues.append(q.start())
    q.enqueue('r')
    assert q.wait_idle(5)
    assert calls == ['r', 'r']
    status = q.status.get('r')
    assert (status.state, status.attempts, status.last_error) == (DONE, 0, '')


def test_terminal_error_is_not_retried(queues):
    calls = []

    def handler(key):
        calls.append(key)
        raise wq.TerminalError('bad id')

    q = make(handler, max_retries=5)
    queues.append(q.start())
    q.enqueue('r')
    assert q.wait_idle(5)
    assert calls == ['r']
    assert q.status.get('r').state == ERROR


def test_new_event_cuts_a_backoff_short(queues):
    calls = []

    def handler(key):
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise OSError('busy')

    q = make(handler, backoff_base=30, backoff_max=30)
    queues.append(q.start())
    q.enqueue('r')
    deadline = time.monotonic() + 5
    while not calls and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.02)
    q.enqueue('r', reason='port update')
    assert q.wait_idle(5)
    assert len(calls) == 2


def test_paused_queue_runs_nothing_until_resumed(queues):
    ran = []
    q = make(ran.append, paused=True)
    queues.append(q.start())
    q.enqueue('a')
    assert not q.wait_idle(0.1)
    assert ran == []
    q.resume()
    assert q.wait_idle(5)
    assert ran == ['a']


def test_stop_joins_all_workers():
    q = make(lambda key: None, workers=5).start()
    q.enqueue('a')
    assert q.wait_idle(5)
    assert q.stop(timeout=5)
    assert not [t for t in threading.enumerate() if t.name.startswith('work-worker')]


@pytest.mark.parametrize('attempt, expected', [(1, 0.5), (2, 1.0), (3, 2.0), (10, 60.0)])
def test_backoff_delay_doubles_and_caps(attempt, expected):
    assert wq.backoff_delay(attempt, 0.5, 60.0, 0.0) == expected


def test_backoff_jitter_stays_within_bounds():
    assert wq.backoff_delay(1, 1.0, 10, 0.2, rand=lambda: 0.0) == pytest.approx(0.8)
    assert wq.backoff_delay(1, 1.0, 10, 0.2, rand=lambda: 1.0) == pytest.approx(1.2)


def test_forget_drops_the_status_of_a_deleted_resource(queues):
    q = make(lambda key: wq.FORGET if key == 'gone' else None)
    queues.append(q.start())
    q.enqueue('gone')
    q.enqueue('kept')
    assert q.wait_idle(5)
    assert q.status.get('gone') is None
    assert q.status.get('kept').state == DONE


def test_system_exit_in_a_handler_fails_the_key_and_keeps_the_worker(queues):
    def handler(key):
        if key == 'bad':
            raise SystemExit(3)

    q = make(handler, workers=1)
    queues.append(q.start())
    q.enqueue('bad')
    q.enqueue('good')
    assert q.wait_idle(5)
    assert q.status.get('bad').state == ERROR
    assert q.status.get('good').state == DONE


def test_on_idle_once_a_burst_is_over_not_between_its_keys(queues):
    ran, idle_after = [], []
    q = make(ran.append, paused=True, workers=2,
             on_idle=lambda: idle_after.append(len(ran)))
    queues.append(q)
    q.start()
    for key in 'abcdef':
        q.enqueue(key)
    q.resume()
    assert q.wait_idle(5)
    assert wait_until(lambda: idle_after == [6])       # once, after the sixth key


def test_a_failing_on_idle_keeps_the_worker(queues):
    ran = []

    def broken():
        raise RuntimeError('trim failed')

    q = make(ran.append, workers=1, on_idle=broken)
    queues.append(q)
    q.start()
    q.enqueue('a')
    assert q.wait_idle(5)
    q.enqueue('b')
    assert q.wait_idle(5) and ran == ['a', 'b']


def _concurrency_recorder(release: threading.Event):
    """A handler that blocks until ``release`` and records, for each key it starts,
    the keys running at that moment."""
    lock = threading.Lock()
    running, started = set(), {}

    def handler(key):
        with lock:
            running.add(key)
            started[key] = frozenset(running)
        try:
            release.wait(5)
        finally:
            with lock:
                running.discard(key)
    return handler, started


def test_background_keys_take_few_workers_while_better_work_runs(queues):
    """A full sync's re-checks (background) start on at most background_workers
    workers while an event's key runs; the rest wait for it, then use them all."""
    release = threading.Event()
    handler, started = _concurrency_recorder(release)
    q = make(handler, paused=True, workers=6, background=200, background_workers=2)
    queues.append(q.start())
    q.enqueue('new', priority=100)
    for i in range(8):
        q.enqueue(f'recheck{i}', priority=200)
    q.resume()
    assert wait_until(lambda: len(started) == 3)
    time.sleep(0.05)                          # no other worker takes a re-check
    assert set(started) == {'new', 'recheck0', 'recheck1'}
    release.set()
    assert q.wait_idle(5)
    assert len(started) == 9


def test_background_keys_use_every_worker_when_nothing_better_runs(queues):
    release = threading.Event()
    handler, started = _concurrency_recorder(release)
    q = make(handler, paused=True, workers=4, background=200, background_workers=1)
    queues.append(q.start())
    for i in range(6):
        q.enqueue(f'cold{i}', priority=200)
    q.resume()
    assert wait_until(lambda: len(started) == 4)     # a cold start keeps its batching
    release.set()
    assert q.wait_idle(5)


def test_better_work_arriving_holds_new_background_keys_back(queues):
    """An event during a full sync: the re-checks in flight finish, no new one
    starts beyond background_workers until the event's key is done."""
    first, second = threading.Event(), threading.Event()
    lock = threading.Lock()
    order = []

    def handler(key):
        with lock:
            order.append(key)
            early = len(order) <= 3
        (first if early else second).wait(5)

    q = make(handler, workers=3, background=200, background_workers=1)
    queues.append(q.start())
    for i in range(5):
        q.enqueue(f'sync{i}', priority=200)
    assert wait_until(lambda: len(order) == 3)          # every worker busy
    q.enqueue('event', priority=100)
    first.set()                                          # the three re-checks end
    assert wait_until(lambda: 'event' in order)
    time.sleep(0.05)
    # the event plus one more re-check, not two
    assert order[:3] == ['sync0', 'sync1', 'sync2'] and len(order) == 5, order
    second.set()
    assert q.wait_idle(5)
    assert len(order) == 6
