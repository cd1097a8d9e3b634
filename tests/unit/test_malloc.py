"""agent.common.malloc: the arena cap defers to the environment; trims are spaced."""

from agent.common import malloc


def test_an_operator_s_malloc_arena_max_wins(monkeypatch):
    monkeypatch.setenv('MALLOC_ARENA_MAX', '4')
    assert malloc.limit_arenas() is False


def test_the_cap_is_set_through_glibc(monkeypatch):
    monkeypatch.delenv('MALLOC_ARENA_MAX', raising=False)
    assert malloc.limit_arenas(8) is True       # 8 per core is glibc's own default


def test_trims_are_at_least_an_interval_apart():
    now = [100.0]
    trimmer = malloc.Trimmer(interval=10.0, clock=lambda: now[0])
    assert trimmer.idle()
    now[0] += 9.9
    assert not trimmer.idle()
    now[0] += 0.2
    assert trimmer.idle()
    assert trimmer.trims == 2
