"""Child processes (dnsmasq, haproxy) as managed resources.

A :class:`~agent.process.spec.ProcessSpec` says what should run; the
:class:`~agent.process.manager.ProcessManager` makes it so (spawn, SIGHUP, restart,
stop) from what is on disk and in ``/proc``, so children survive agent restarts and
are adopted without any bookkeeping; the
:class:`~agent.process.monitor.ProcessMonitor` respawns children that died.
"""

from agent.process.manager import ProcessError, ProcessManager, ProcessState, RunningProcess  # noqa
from agent.process.monitor import ProcessMonitor  # noqa
from agent.process.spec import ProcessSpec  # noqa
