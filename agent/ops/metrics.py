"""The agents' Prometheus endpoint: ``GET /metrics`` in the text exposition
format (version 0.0.4), off unless ``[AGENT] metrics_port`` is set.

Each scrape takes a fresh :func:`agent.ops.introspect.snapshot`; nothing is kept
between scrapes and the agent does no work for metrics when nobody asks (the
handler-run histogram is a few additions per reconcile, kept in any case).  The
server is the standard library's ``http.server`` on a daemon thread, imported
only when the endpoint is on, bound to ``[AGENT] metrics_bind_host``
(127.0.0.1 unless configured: the figures name networks' and routers' counts
and the bus state, not for the world).
"""

from __future__ import annotations

import logging
import math
import threading

from agent.ops import introspect
from agent.reconcile import stats

LOG = logging.getLogger(__name__)

CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
PREFIX = 'netnode'
CHILD_STATES = (introspect.RUNNING, introspect.DEAD)


def _value(number) -> str:
    if number is None or (isinstance(number, float) and math.isnan(number)):
        return 'NaN'
    if number == math.inf:
        return '+Inf'
    if isinstance(number, bool):
        return '1' if number else '0'
    return repr(float(number)) if isinstance(number, float) else str(number)


def _labels(**labels) -> str:
    def esc(v):
        return str(v).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')
    return '{' + ','.join(f'{k}="{esc(v)}"' for k, v in labels.items()) + '}'


class _Text:
    def __init__(self, agent: str):
        self.agent = agent
        self.lines: list[str] = []

    def family(self, name, kind, help_text):
        self.lines += [f'# HELP {PREFIX}_{name} {help_text}', f'# TYPE {PREFIX}_{name} {kind}']

    def sample(self, name, value, **labels):
        self.lines.append(f'{PREFIX}_{name}{_labels(agent=self.agent, **labels)} '
                          f'{_value(value)}')

    def one(self, name, kind, help_text, value):
        self.family(name, kind, help_text)
        self.sample(name, value)


def _queue(out: _Text, q: introspect.QueueView) -> None:
    out.one('queue_depth', 'gauge', 'Keys waiting in the work queue.', q.depth)
    out.one('queue_in_flight', 'gauge', 'Keys a queue worker reconciles now.',
            len(q.in_flight))
    out.one('queue_paused', 'gauge', '1 until the first full sync opened the queue.',
            q.paused)
    out.family('reconcile_keys', 'gauge', 'Keys the queue knows, by their last outcome.')
    for state, n in sorted(q.keys.items()):
        out.sample('reconcile_keys', n, state=state)
    out.family('reconcile_duration_seconds', 'histogram',
               'Reconcile (queue handler) runs and their durations, by outcome.')
    for outcome, h in q.runs.items():
        for bound, n in zip(stats.BUCKETS, h.buckets):
            out.sample('reconcile_duration_seconds_bucket', n, outcome=outcome,
                       le=_value(float(bound)))
        out.sample('reconcile_duration_seconds_bucket', h.count, outcome=outcome, le='+Inf')
        out.sample('reconcile_duration_seconds_sum', h.total, outcome=outcome)
        out.sample('reconcile_duration_seconds_count', h.count, outcome=outcome)


def _sync(out: _Text, view: introspect.AgentView) -> None:
    out.one('full_syncs_total', 'counter', 'Successful full syncs.', view.sync.syncs)
    out.one('full_sync_failures', 'gauge', 'Consecutive failed full-sync fetches.',
            view.sync.failures)
    out.one('full_sync_last_duration_seconds', 'gauge',
            'Duration of the last successful full sync.', view.sync.last_duration)
    since = view.seconds_since_full_sync()
    out.one('seconds_since_full_sync', 'gauge',
            'Seconds since the last successful full sync (+Inf: none yet).',
            math.inf if since is None else since)
    out.one('in_sync', 'gauge', '1 once a full sync has succeeded.', view.in_sync)


def render(binary: str, view: introspect.AgentView) -> str:
    """The exposition text of ``view`` (labelled ``agent="<binary>"``)."""
    out = _Text(binary)
    if view.queue is not None:
        _queue(out, view.queue)
    if view.sync is not None:
        _sync(out, view)
    if view.bus_up is not None:
        out.one('bus_up', 'gauge', '1 if the last report_state reached the server.',
                view.bus_up)
    if view.requests is not None:
        out.family('metadata_requests_total', 'counter',
                   'Metadata requests answered, by result.')
        for result, n in sorted(view.requests.items()):
            out.sample('metadata_requests_total', n, result=result)
    out.family('children', 'gauge', 'Child processes the agent watches, by kind and state.')
    counts: dict[tuple[str, str], int] = {}
    for child in view.children:
        counts[child.kind, child.state] = counts.get((child.kind, child.state), 0) + 1
    for kind in sorted({k for k, _ in counts}):
        for state in CHILD_STATES:
            out.sample('children', counts.get((kind, state), 0), kind=kind, state=state)
    return '\n'.join(out.lines) + '\n'


class MetricsServer:
    """Serves ``render(binary, snapshot(agent()))`` on ``(host, port)``."""

    def __init__(self, binary: str, agent, host: str, port: int):
        import http.server       # only when the endpoint is on (~1 MiB of modules)

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):    # noqa: N802 - http.server's name
                if self.path.split('?', 1)[0] != '/metrics':
                    self.send_error(404, 'only /metrics here')
                    return
                body = outer.scrape().encode()
                self.send_response(200)
                self.send_header('Content-Type', CONTENT_TYPE)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt, *args):    # scrapes are not news
                LOG.debug('metrics: %s %s', self.address_string(), fmt % args)

        self.binary = binary
        self.agent = agent
        self.httpd = http.server.ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.httpd.server_address[:2]

    def scrape(self) -> str:
        return render(self.binary, introspect.snapshot(self.agent))

    def start(self) -> MetricsServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name='metrics',
                                        kwargs={'poll_interval': 0.5}, daemon=True)
        self._thread.start()
        LOG.info('metrics: serving http://%s:%d/metrics', *self.address)
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
