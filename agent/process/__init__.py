"""Child processes (dnsmasq, haproxy, radvd, keepalived) as managed resources.

A :class:`~agent.process.spec.ProcessSpec` says what should run; both agents plan
it with :mod:`agent.process.actions` (start, SIGHUP, restart, adopt, stop: a pure
``diff``) and apply that through :class:`~agent.process.children.Children`; the
:class:`~agent.process.manager.ProcessManager` does it from what is on disk and in
``/proc``, so children survive agent restarts and are adopted without any
bookkeeping; the :class:`~agent.process.monitor.ProcessMonitor` respawns children
that died.
"""

from agent.process.manager import ProcessError, ProcessManager, ProcessState, RunningProcess  # noqa
from agent.process.monitor import ProcessMonitor  # noqa
from agent.process.spec import ProcessSpec  # noqa
