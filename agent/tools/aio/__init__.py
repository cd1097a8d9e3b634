"""The all-in-one: every netnode service on this machine, the reference scenario
built with the CLI, checked end to end, and a report of what exists on the node.

Run through ``tools/all-in-one.sh`` (which prepares the host first); the Python
side is ``python -m agent.tools.aio [--stop | --clean | --report]``.

Modules: :mod:`settings` (environment overrides, config files),
:mod:`host` (commands, progress lines, the instance's footprint),
:mod:`services` (start, reuse, stop), :mod:`scenario` (the CLI commands),
:mod:`checks` (DHCP, ping, SNAT, metadata, floating IP), :mod:`report`,
:mod:`clean`.
"""
