"""A full fetch's copies: used once, not when an event came since the fetch began."""

import pytest

from agent.reconcile.prefetch import Prefetched


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


def test_a_copy_is_taken_once_then_fetched(clock):
    p = Prefetched(clock)
    assert p.fetched({'a': 'A', 'b': 'B'}, started_at=0.0) == {'a': 'A', 'b': 'B'}
    assert p.take('a') == (True, 'A')
    assert p.take('a') == (False, None)
    assert p.take('c') == (False, None)


def test_the_next_fetch_replaces_the_copies(clock):
    p = Prefetched(clock)
    p.fetched({'a': 'A1', 'b': 'B1'}, 0.0)
    p.fetched({'a': 'A2'}, 1.0)
    assert (p.take('a'), p.take('b')) == ((True, 'A2'), (False, None))


# (event at, fetch begun at) -> whether the fetch's copy is used
@pytest.mark.parametrize('event_at, started_at, used', [
    (1.0, 2.0, True),        # the fetch began after the event: it read the change
    (2.0, 2.0, False),       # the same instant: it may not have
    (3.0, 2.0, False),       # during the fetch: it may not have
])
def test_an_event_during_the_fetch_drops_that_copy(clock, event_at, started_at, used):
    p = Prefetched(clock)
    clock.now = event_at
    p.invalidate('a')
    assert ('a' in p.fetched({'a': 'A', 'b': 'B'}, started_at)) is used
    assert p.take('a') == ((True, 'A') if used else (False, None))
    assert p.take('b') == (True, 'B')


def test_an_event_after_the_fetch_drops_the_copy(clock):
    p = Prefetched(clock)
    p.fetched({'a': 'A'}, 0.0)
    clock.now = 1.0
    p.invalidate('a')
    assert p.take('a') == (False, None)


def test_events_older_than_a_fetch_are_forgotten_by_the_next(clock):
    p = Prefetched(clock)
    clock.now = 3.0
    p.invalidate('a')
    p.fetched({}, started_at=2.0)       # begun before the event: it is kept
    assert 'a' not in p.fetched({'a': 'A'}, started_at=2.5)
    p.fetched({}, started_at=4.0)       # begun after it: forgotten
    assert p.fetched({'a': 'A'}, started_at=3.5) == {'a': 'A'}


def test_a_key_gone_is_taken_as_none_once_without_fetching(clock):
    p = Prefetched(clock)
    p.fetched({'a': 'A'}, 0.0)
    clock.now = 1.0
    p.invalidate('a', gone=True)
    assert p.take('a') == (True, None)
    assert p.take('a') == (False, None)


def test_an_event_after_a_delete_undoes_the_gone(clock):
    p = Prefetched(clock)
    p.invalidate('a', gone=True)
    p.invalidate('a')
    assert p.take('a') == (False, None)


# (delete at, fetch begun at, fetch holds the key) -> what take gives
@pytest.mark.parametrize('deleted_at, started_at, holds, taken', [
    (1.0, 2.0, True, (True, 'A')),      # added again after the delete: the fetch wins
    (1.0, 2.0, False, (True, None)),    # still gone
    (3.0, 2.0, True, (True, None)),     # deleted while the fetch ran
])
def test_a_fetch_and_a_delete(clock, deleted_at, started_at, holds, taken):
    p = Prefetched(clock)
    clock.now = deleted_at
    p.invalidate('a', gone=True)
    p.fetched({'a': 'A'} if holds else {}, started_at)
    assert p.take('a') == taken


def reader(values, calls):
    def read(keys):
        calls.append(list(keys))
        return {k: values.get(k) for k in keys}
    return read


def test_a_fetch_reads_the_other_stale_keys_with_it_for_their_workers(clock):
    p = Prefetched(clock)
    p.fetched({'a': 'A0', 'b': 'B0', 'c': 'C0'}, 0.0)
    clock.now = 1.0
    for key in ('a', 'b', 'c', 'd'):
        p.invalidate(key)
    calls = []
    read = reader({'a': 'A', 'b': 'B', 'c': 'C'}, calls)
    assert p.take('b') == (False, None)
    clock.now = 2.0
    assert p.fetch('b', read, limit=10) == 'B'
    assert calls == [['b', 'a', 'c', 'd']]
    # 'd' is not on the server: taken as None, as a fetch of its own would find
    assert [p.take(k) for k in 'acd'] == [(True, 'A'), (True, 'C'), (True, None)]
    assert p.take('b') == (False, None)


def test_a_fetch_reads_at_most_limit_keys(clock):
    p = Prefetched(clock)
    for key in 'abcde':
        p.invalidate(key)
    calls = []
    clock.now = 1.0
    p.fetch('e', reader({}, calls), limit=3)
    p.fetch('d', reader({}, calls), limit=3)
    assert calls == [['e', 'a', 'b'], ['d', 'c']]


def test_an_event_during_a_fetch_drops_that_copy(clock):
    p = Prefetched(clock)
    p.invalidate('a')
    p.invalidate('b')
    clock.now = 1.0

    def read(keys):
        clock.now = 2.0
        p.invalidate('b')           # came while the server answered
        return {k: k.upper() for k in keys}
    assert p.fetch('a', read, limit=10) == 'A'
    assert p.take('b') == (False, None)
    calls = []
    assert p.fetch('b', reader({'b': 'B2'}, calls), limit=10) == 'B2'
    assert calls == [['b']]


def test_keys_left_out_or_a_failed_read_are_fetched_by_their_workers(clock):
    p = Prefetched(clock)
    for key in 'abc':
        p.invalidate(key)
    assert p.fetch('a', lambda keys: {'a': 'A'}, limit=10) == 'A'
    assert p.take('b') == (False, None)

    def fail(keys):
        raise TimeoutError('server')
    with pytest.raises(TimeoutError):
        p.fetch('b', fail, limit=10)
    assert p.take('c') == (False, None)
    calls = []
    assert p.fetch('c', reader({'c': 'C'}, calls), limit=10) == 'C'
    assert calls == [['c']]


def test_a_worker_whose_key_is_being_fetched_waits_for_that_copy(clock):
    import threading
    p = Prefetched(clock)
    p.invalidate('a')
    p.invalidate('b')
    clock.now = 1.0
    reading, release = threading.Event(), threading.Event()

    def read(keys):
        reading.set()
        release.wait(5)
        return {k: k.upper() for k in keys}
    fetcher = threading.Thread(target=p.fetch, args=('a', read, 10))
    fetcher.start()
    reading.wait(5)
    taken = []
    waiter = threading.Thread(target=lambda: taken.append(p.take('b')))
    waiter.start()
    waiter.join(0.1)
    assert taken == []                  # waits for the fetch under way
    release.set()
    waiter.join(5)
    fetcher.join(5)
    assert taken == [(True, 'B')]


def test_a_deleted_key_is_not_read_with_others(clock):
    p = Prefetched(clock)
    p.invalidate('a')
    p.invalidate('b', gone=True)
    calls = []
    p.fetch('a', reader({}, calls), limit=10)
    assert calls == [['a']]
    assert p.take('b') == (True, None)
