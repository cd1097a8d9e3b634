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


class _Timers:
    """threading.Timer's place: the timers made, started by hand."""

    def __init__(self):
        self.made = []

    def __call__(self, delay, function):
        timer = _Timer(delay, function)
        self.made.append(timer)
        return timer


class _Timer:
    def __init__(self, delay, function):
        self.delay, self.function, self.daemon, self.started = delay, function, False, False

    def start(self):
        self.started = True


def test_a_burst_is_trimmed_again_once_it_settled_one_timer_at_a_time():
    now, timers = [100.0], _Timers()
    trimmer = malloc.Trimmer(interval=0.0, clock=lambda: now[0], settle=3.0,
                             timer=timers)
    assert trimmer.idle() and trimmer.idle()          # interval 0: each burst
    [timer] = timers.made                             # one settle trim pending
    assert (timer.delay, timer.daemon, timer.started) == (3.0, True, True)
    timer.function()
    assert trimmer.trims == 3
    assert trimmer.idle() and len(timers.made) == 2   # the next burst: one more
