"""Notifications to the agents, sent off the request path: a bounded queue, one worker.

The plugin hands every committed change's notifications to a
:class:`QueuedNotifier`, which only queues them (never blocks, never raises); its
worker thread sends them through the bus notifier (:class:`~agent.controller.
rpc_notifier.RpcNotifier`, whose casts give up after a bounded retry and then
raise :class:`DeliveryFailed`).

Nothing is lost, and memory stays bounded:

* a notification that cannot be sent marks its agent (topic and host; no host:
  every agent of the topic) as *missed*, and the worker enters the outage: it
  logs once, then collapses every further notification into the missed set
  instead of trying it;
* a full queue collapses the same way (logged once per overflow);
* the worker then sends each missed agent ``agent_updated`` (Neutron's
  notification after which an agent resyncs in full: ours and Neutron's), probing
  every ``probe_interval`` seconds until the bus takes them; it logs once when the
  outage is over.

An agent that lost its own connection as well resyncs on its reconnect (it may
not have its queue back yet when the ``agent_updated`` is published); either way
its full sync reads everything committed during the outage.

A REST request may still wait a little for its own notifications
(:meth:`QueuedNotifier.wait_sent`, called before the answer goes out), as
Neutron's API casts before it answers: when the answer comes, the agents were
told.  The wait is bounded (``settle_seconds``), and skipped during an outage or
behind a backlog (more than ``SETTLE_AHEAD`` notifications queued before the
request's own), so the API stays as fast as the bus allows and never waits on a
bus that does not take messages.  Sent after the answer, the casts of a subnet
create reached the DHCP agent ~60 ms late (median) when networks were created
back to back: the request threads of the next creates held the GIL meanwhile.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time

from agent.controller.notify import Notification, RecordingNotifier, dispatch

LOG = logging.getLogger(__name__)

QUEUE_SIZE = 10000           # notifications waiting; beyond: collapsed to resyncs
PROBE_INTERVAL = 2.0         # seconds between resync attempts during an outage
SETTLE_SECONDS = 0.25        # a request waits at most this for its notifications
SETTLE_AHEAD = 16            # ... and not at all behind more queued before them
# A notification's kind → the agent topic it reaches (network_update: the L3 agents).
TOPIC_OF_KIND = {'cast_dhcp': 'dhcp', 'cast_l3': 'l3', 'call_l3': 'l3',
                 'network_update': 'l3'}


class DeliveryFailed(Exception):
    """The bus did not take a notification within its bounded retry."""


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class AgentTarget:
    """Which agents a notification reaches: ``host`` None means every agent of ``topic``."""
    topic: str          # 'dhcp' or 'l3'
    host: str | None

    @classmethod
    def of(cls, n: Notification) -> AgentTarget:
        host = None if n.kind == 'network_update' else n.host
        return cls(TOPIC_OF_KIND[n.kind], host)

    def __str__(self):
        return f'{self.topic} agent {self.host or "(all)"}'


def collapse(targets: set[AgentTarget], new: AgentTarget) -> None:
    """Add ``new`` to ``targets``; a fanout target stands for every host of its topic."""
    fanout = AgentTarget(new.topic, None)
    if fanout in targets:
        return
    if new.host is None:
        targets.difference_update({t for t in targets if t.topic == new.topic})
    targets.add(new)


@dataclasses.dataclass(slots=True)
class DeliveryStats:
    delivered: int = 0
    collapsed: int = 0           # notifications replaced by a resync (outage or overflow)
    resyncs_sent: int = 0
    outages: int = 0


class QueuedNotifier(RecordingNotifier):
    """A Notifier whose methods queue; a worker delivers through ``notifier``.

    ``notifier`` must raise (:class:`DeliveryFailed` or any exception) when the
    bus does not take a notification, and offer ``resync(topic, host)``.
    """

    def __init__(self, notifier, size: int = QUEUE_SIZE,
                 probe_interval: float = PROBE_INTERVAL,
                 settle_seconds: float = SETTLE_SECONDS):
        super().__init__()
        self.notifier = notifier
        self.probe_interval = probe_interval
        self.settle_seconds = settle_seconds
        self.stats = DeliveryStats()
        self._queue: queue.Queue[tuple[int, Notification]] = queue.Queue(maxsize=size)
        # Sequence numbers: the last notification queued, and the last one the
        # worker is done with (sent, or collapsed into a resync); the requests
        # waiting in wait_sent() watch the second.
        self._progress = threading.Condition(threading.Lock())
        self._queued_seq = 0
        self._done_seq = 0
        self._settling = 0
        self._sending_since: float | None = None   # the worker's send in progress
        self._mine = threading.local()      # a request thread's (first, last) seq
        self._lock = threading.Lock()
        self._missed: set[AgentTarget] = set()
        self._overflowing = False
        self._outage_since: float | None = None
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._worker = threading.Thread(target=self._run, name='agent-notifier',
                                        daemon=True)
        self._worker.start()

    # -- the request side: never blocks ---------------------------------------------
    def _record(self, kind, host, method, kwargs):
        n = Notification(kind, host, method, kwargs)
        self._idle.clear()
        with self._progress:
            self._queued_seq += 1
            seq = self._queued_seq
        try:
            self._queue.put_nowait((seq, n))
            mine = getattr(self._mine, 'seqs', None)
            self._mine.seqs = (seq if mine is None else mine[0], seq)
        except queue.Full:
            with self._lock:
                if not self._overflowing:
                    LOG.warning('agent notification queue full (%d): collapsing to a '
                                'resync of the agents concerned', self._queue.maxsize)
                self._overflowing = True
                self._miss(AgentTarget.of(n))

    def _miss(self, target: AgentTarget) -> None:
        self.stats.collapsed += 1
        collapse(self._missed, target)

    @property
    def in_outage(self) -> bool:
        return self._outage_since is not None

    def missed(self) -> frozenset[AgentTarget]:
        with self._lock:
            return frozenset(self._missed)

    def wait_sent(self, timeout: float | None = None) -> bool:
        """Wait until the notifications this thread queued since its last call
        were sent (or collapsed): at most ``timeout`` (default ``settle_seconds``),
        and not at all during an outage or behind a backlog.  True if they were."""
        mine = getattr(self._mine, 'seqs', None)
        self._mine.seqs = None
        if mine is None:
            return True
        first, last = mine
        timeout = self.settle_seconds if timeout is None else timeout
        with self._progress:
            if self._done_seq >= last:
                return True
            if self._outage_since is not None or first - self._done_seq > SETTLE_AHEAD \
                    or self._stuck(timeout):
                return False
            self._settling += 1
            try:
                return self._progress.wait_for(
                    lambda: self._done_seq >= last or self._outage_since is not None,
                    timeout) and self._done_seq >= last
            finally:
                self._settling -= 1

    def _stuck(self, timeout: float) -> bool:
        """Under _progress: the worker's send has taken ``timeout`` already (a
        bus that hangs before the outage is noticed: no one waits on it)."""
        since = self._sending_since
        return since is not None and time.monotonic() - since >= timeout

    def _done(self, seq: int) -> None:
        with self._progress:
            if seq > self._done_seq:
                self._done_seq = seq
            if self._settling:
                self._progress.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """True once everything queued was delivered or resynced (for tests)."""
        return self._idle.wait(timeout)

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._worker.join(timeout)
        close = getattr(self.notifier, 'close', None)
        if close is not None:
            close()

    # -- the worker -----------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            if self.missed() and not self._send_resyncs():
                self._drain_into_missed()
                self._stop.wait(self.probe_interval)
                continue
            try:
                seq, n = self._queue.get(timeout=0.5)
            except queue.Empty:
                with self._lock:
                    self._overflowing = False
                    if not self._missed:
                        self._idle.set()
                continue
            with self._progress:
                self._sending_since = time.monotonic()
            try:
                self._send(n)
            finally:
                with self._progress:
                    self._sending_since = None
            self._done(seq)

    def _send(self, n: Notification) -> None:
        try:
            dispatch(self.notifier, n)
            self.stats.delivered += 1
        except Exception as exc:  # noqa: BLE001 - any failure: resync them later
            with self._lock:
                self._miss(AgentTarget.of(n))
            self._outage_started(f'{n.method} to {AgentTarget.of(n)}: {exc}')
            self._drain_into_missed()

    def _drain_into_missed(self) -> None:
        """During an outage, queued notifications are not tried: their agents will resync."""
        while True:
            try:
                seq, n = self._queue.get_nowait()
            except queue.Empty:
                return
            with self._lock:
                self._miss(AgentTarget.of(n))
            self._done(seq)

    def _outage_started(self, what: str) -> None:
        if self._outage_since is not None:
            return
        with self._progress:
            self._outage_since = time.monotonic()
            self._progress.notify_all()       # requests waiting in wait_sent() go on
        self.stats.outages += 1
        LOG.error('cannot notify the agents (%s): the message bus looks down; '
                  'the API keeps answering, and the agents concerned will be told to '
                  'resync once it is back', what)

    def _send_resyncs(self) -> bool:
        """Send agent_updated to every missed target; False at the first failure."""
        for target in sorted(self.missed(), key=lambda t: (t.topic, t.host or '')):
            try:
                self.notifier.resync(target.topic, target.host)
            except Exception as exc:  # noqa: BLE001 - still down: probe again later
                self._outage_started(f'agent_updated to {target}: {exc}')
                return False
            self.stats.resyncs_sent += 1
            with self._lock:
                self._missed.discard(target)
            LOG.info('told %s to resync (it missed notifications)', target)
        if self._outage_since is not None:
            LOG.warning('the message bus is back after %.1f s: the agents that missed '
                        'notifications were told to resync',
                        time.monotonic() - self._outage_since)
            self._outage_since = None
        return True
