"""The agents load none of the controller's libraries, nor eventlet (issue 13, README).

Each agent's entry point runs in a fresh interpreter as far as it goes before it
touches the host: its ``agent.cmd`` module is imported, the options are parsed
from a config file with the agent's option groups, the modules of the agent's
preload are imported, logging is set up, the module holding the agent class is
imported and an RPC transport is made for an unreachable broker (oslo.messaging
connects lazily).  Then the interpreter's ``sys.modules`` is read: a module
there with a value is loaded (``agent/__init__.py`` puts ``None`` under
``eventlet`` and the entry points, through ``agent.cmd.lean_imports``, under
``yaml``, ``msgpack``, ``setproctitle`` and ``idna``, so that oslo, kombu,
cotyledon and rfc3986 cannot import them; ``None`` means "not
loaded").  The package itself leaves ``yaml`` alone: the controller's tests and
tools import it beside openstacksdk and cloud-init, which read YAML.  An agent imports its drivers and children's renderers
later, when it is built and as it works: a second test imports every module of
the agent side (all of ``agent`` but the controller, its CLI and the tools) in
one interpreter and checks the same.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

# Top-level packages of the controller (REST, SQL, migrations, database drivers,
# oslo.middleware) and eventlet: an agent process never needs them.  oslo.reports
# (with jinja2) is loaded by the first SIGUSR2 only (agent.ops.gmr);
# http.server by the metrics endpoint only when it is on (agent.ops.metrics).
FORBIDDEN = ('sqlalchemy', 'alembic', 'flask', 'werkzeug', 'cheroot', 'psycopg',
             'psycopg2', 'pymysql', 'oslo_middleware', 'eventlet')
# Optional imports of kombu (its YAML and msgpack serializers), cotyledon
# (setproctitle) and rfc3986 (idna): kept out by the entry points only
# (agent.cmd.lean_imports says why each is safe to leave out).
ENTRY_FORBIDDEN = FORBIDDEN + ('yaml', 'msgpack', 'setproctitle', 'idna')
ON_DEMAND = ('oslo_reports', 'jinja2')     # psutil: oslo.messaging loads it anyway
ON_DEMAND_MODULES = ('http.server',)

# entry module, its AgentMain in agent.cmd.run, the module of the agent class
AGENTS = [
    ('agent.cmd.dhcp_agent', 'DHCP_AGENT', 'agent.dhcp.agent'),
    ('agent.cmd.l3_agent', 'L3_AGENT', 'agent.l3.agent'),
    ('agent.cmd.metadata_agent', 'METADATA_AGENT', 'agent.metadata.agent'),
]

PROBE = textwrap.dedent('''
    import importlib, json, sys
    entry, spec_name, agent_module, config = sys.argv[1:5]
    importlib.import_module(entry)
    from agent.cmd import run
    from agent.conf import service
    spec = getattr(run, spec_name)
    conf = service.make_conf(['--config-file', config], groups=spec.groups)
    for module in spec.preload:
        importlib.import_module(module)
    service.setup_logging(conf, spec.binary)
    importlib.import_module(agent_module)
    from agent.rpc import transport
    transport.get_transport(conf)
    run.gmr.Reporter(spec.binary, conf).install()     # what run_agent does
    print(json.dumps(sorted({name.split('.')[0] for name, module in sys.modules.items()
                             if module is not None} |
                            {name for name in ('http.server',) if sys.modules.get(name)})))
''')


@pytest.mark.parametrize('entry,spec_name,agent_module', AGENTS,
                         ids=[a[0].rsplit('.', 1)[1] for a in AGENTS])
def test_agent_loads_no_controller_library_nor_eventlet(tmp_path, entry, spec_name,
                                                          agent_module):
    config = tmp_path / 'agent.conf'
    config.write_text(textwrap.dedent(f'''
        [DEFAULT]
        state_path = {tmp_path / 'state'}
        transport_url = rabbit://guest:guest@127.0.0.1:9/
        log_file = {tmp_path / 'agent.log'}
    '''))
    result = subprocess.run([sys.executable, '-c', PROBE, entry, spec_name, agent_module,
                             str(config)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert 'agent' in loaded and 'oslo_messaging' in loaded    # the probe got that far
    assert sorted(loaded & set(ENTRY_FORBIDDEN)) == [], \
        f'{entry} loads {sorted(loaded & set(ENTRY_FORBIDDEN))}'
    # the metadata agent serves its socket with http.server anyway
    on_demand = ON_DEMAND + (() if entry.endswith('metadata_agent') else ON_DEMAND_MODULES)
    early = sorted(loaded & set(on_demand))
    assert early == [], f'{entry} loads {early} before they are asked for'


# The controller's packages and entry points, the CLI that talks to its API, and the
# tools (test bed, interop job, all-in-one) that drive a whole node: not agent code.
NOT_AGENT_SIDE = ('agent.controller', 'agent.cli', 'agent.tools', 'agent.cmd.server')

WALK = textwrap.dedent('''
    import importlib, json, pkgutil, sys
    skip = tuple(sys.argv[1].split(','))
    names, pending = [], ['agent']
    while pending:               # not pkgutil.walk_packages: it imports every package
        package = importlib.import_module(pending.pop())
        names.append(package.__name__)
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + '.'):
            if info.name.startswith(skip):
                continue
            if info.ispkg:
                pending.append(info.name)
            else:
                importlib.import_module(info.name)
                names.append(info.name)
    print(json.dumps([len(names), sorted({name.split('.')[0] for name, module
                                          in sys.modules.items() if module is not None})]))
''')


def test_no_agent_side_module_loads_controller_library_nor_eventlet():
    result = subprocess.run([sys.executable, '-c', WALK, ','.join(NOT_AGENT_SIDE)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    count, loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert count > 100 and 'ovs' in loaded and 'pyroute2' in loaded   # it walked
    assert sorted(set(loaded) & set(FORBIDDEN)) == []


def test_the_package_leaves_yaml_to_whoever_imports_it():
    """openstacksdk's config loader and cloud-init's readers run in processes
    (the test run, the tools) that import ``agent`` and ``agent.cmd.run``."""
    probe = ('import agent, agent.cmd.run, yaml, sys; '
             'print(yaml.safe_load("a: 1")["a"], "kombu" in sys.modules)')
    result = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['1', 'True']     # kombu was imported before yaml
