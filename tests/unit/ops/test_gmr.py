"""The Guru Meditation Report as the SIGUSR2 handler writes it (oslo.reports
real, the agent a plain work queue), and its failure modes: never raised, never
two at once."""

import logging
import threading

from oslo_config import cfg

from agent import version
from agent.ops import gmr
from agent.reconcile.queue import WorkQueue


class Agent:
    def __init__(self, queue):
        self.queue = queue


def conf_with_secret():
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.StrOpt('transport_url', secret=True),
                        cfg.StrOpt('host')])
    conf([], project='netnode-test')
    conf.set_override('transport_url', 'rabbit://guest:sekrit@127.0.0.1:5672/')
    conf.set_override('host', 'node-1')
    return conf


def test_report_holds_threads_queue_and_masked_config():
    queue = WorkQueue(lambda key: None, workers=2, name='rep').start()
    try:
        text = gmr.Reporter('netnode-test-agent', conf_with_secret(),
                            lambda: Agent(queue)).render()
    finally:
        queue.stop(5)
    for section in ('Package', 'Threads', 'Thread names', 'Work queue', 'Children',
                    'Processes', 'Configuration'):
        assert f' {section} ' in text
    assert f'version = {version.version_string()}' in text
    assert 'rep-worker-1' in text and 'workers alive = True' in text
    assert 'host = node-1' in text and 'sekrit' not in text and 'transport_url = ***' in text


def test_a_failing_report_is_logged_and_the_next_one_runs(caplog):
    calls = []

    def broken_agent():
        calls.append(1)
        raise RuntimeError('agent gone')
    reporter = gmr.Reporter('netnode-test', conf_with_secret(), broken_agent)
    with caplog.at_level(logging.INFO, logger='agent.ops.gmr'):
        reporter.request().join(30)
        assert 'could not be built' in caplog.text
        reporter.request().join(30)
    assert len(calls) == 2


def test_one_report_at_a_time(caplog):
    started, release = threading.Event(), threading.Event()

    def slow_agent():
        started.set()
        release.wait(10)
        return None
    reporter = gmr.Reporter('netnode-test', conf_with_secret(), slow_agent)
    first = reporter.request()
    assert started.wait(10)
    with caplog.at_level(logging.WARNING, logger='agent.ops.gmr'):
        assert reporter.request() is None
    assert 'being written already' in caplog.text
    with caplog.at_level(logging.INFO, logger='agent.ops.gmr'):
        release.set()
        first.join(30)
    assert 'Guru Meditation Report (SIGUSR2) of netnode-test:' in caplog.text
    assert reporter.request().join(30) is None      # free again
