"""agent.common.malloc: trims are spaced."""

from agent.common import malloc


def test_trims_are_at_least_an_interval_apart():
    now = [100.0]
    trimmer = malloc.Trimmer(interval=10.0, clock=lambda: now[0])
    assert trimmer.idle()
    now[0] += 9.9
    assert not trimmer.idle()
    now[0] += 0.2
    assert trimmer.idle()
    assert trimmer.trims == 2
