import threading

from agent.rpc.heartbeat import AgentIdentity, Heartbeat, build_agent_state

IDENTITY = AgentIdentity('neutron-dhcp-agent', 'dhcp_agent', 'DHCP agent', 'hostA')


class FakeReporter:
    """Answers from a script: a string is returned, an exception raised."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent = []

    def report_state(self, agent_state):
        self.sent.append(agent_state)
        answer = self.answers.pop(0) if self.answers else 'alive'
        if isinstance(answer, Exception):
            raise answer
        return answer


def make(reporter, counts=None):
    resyncs = []
    hb = Heartbeat(reporter, IDENTITY, lambda: dict(counts or {'networks': 3}),
                   interval=30, on_resync=lambda: resyncs.append(1))
    return hb, resyncs


def test_agent_state_shape():
    state = build_agent_state(IDENTITY, {'networks': 1}, start_flag=True)
    assert state == {'binary': 'neutron-dhcp-agent', 'host': 'hostA',
                     'availability_zone': 'nova', 'topic': 'dhcp_agent',
                     'agent_type': 'DHCP agent', 'configurations': {'networks': 1},
                     'start_flag': True}
    assert 'start_flag' not in build_agent_state(IDENTITY, {}, start_flag=False)


def test_start_flag_kept_until_first_success():
    rep = FakeReporter(OSError('down'), OSError('down'), 'new', 'alive')
    hb, resyncs = make(rep)
    results = [hb.report_once() for _ in range(4)]
    assert results == [False, False, True, True]
    assert [s.get('start_flag') for s in rep.sent] == [True, True, True, None]
    assert hb.first_report.is_set() and resyncs == []


def test_first_report_event_only_after_success():
    hb, _ = make(FakeReporter(OSError('down')))
    hb.report_once()
    assert not hb.first_report.is_set()


def test_revived_triggers_resync():
    hb, resyncs = make(FakeReporter('new', 'alive', 'revived', 'alive'))
    for _ in range(4):
        hb.report_once()
    assert resyncs == [1]


def test_failure_then_success_triggers_resync_once():
    hb, resyncs = make(FakeReporter('new', TimeoutError(), TimeoutError(), 'alive',
                                    'alive'))
    for _ in range(5):
        hb.report_once()
    assert resyncs == [1]
    assert hb.bus.down is False


def test_configurations_are_live():
    counts = {'networks': 1}
    rep = FakeReporter()
    hb = Heartbeat(rep, IDENTITY, lambda: dict(counts), interval=30)
    hb.report_once()
    counts['networks'] = 7
    hb.report_once()
    assert [s['configurations']['networks'] for s in rep.sent] == [1, 7]


def test_thread_reports_at_once_and_stops():
    sent = threading.Event()

    class Rep(FakeReporter):
        def report_state(self, agent_state):
            sent.set()
            return super().report_state(agent_state)

    hb = Heartbeat(Rep(), IDENTITY, dict, interval=60)
    hb.start()
    assert hb.first_report.wait(5) and sent.is_set()
    hb.stop()
    hb.join(5)
    assert not hb._thread.is_alive()


def test_interval_zero_disables():
    rep = FakeReporter()
    hb = Heartbeat(rep, IDENTITY, dict, interval=0)
    hb.start()
    assert hb.first_report.is_set() and rep.sent == []
    hb.stop()
    hb.join()
