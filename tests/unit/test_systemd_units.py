"""The shipped systemd units: kill mode, restart policy, ordering, and commands that
name console scripts setup.cfg declares.  ``systemd-analyze verify`` checks them too
when it is installed."""

import configparser
import pathlib
import shlex
import shutil
import subprocess

import pytest

TOP = pathlib.Path(__file__).resolve().parents[2]
UNIT_DIR = TOP / 'etc' / 'systemd'
AGENTS = ('netnode-dhcp-agent', 'netnode-l3-agent', 'netnode-metadata-agent')
LONG_RUNNING = ('netnode-server',) + AGENTS
CLEANUPS = ('netnode-netns-cleanup', 'netnode-ovs-cleanup')
ALL_SCRIPTS = LONG_RUNNING + CLEANUPS


def parse_unit(path):
    """{section: {key: [values]}}; keys may repeat in unit files."""
    sections, current = {}, None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in '#;':
            continue
        if line.startswith('[') and line.endswith(']'):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition('=')
        assert sep and current is not None, f'{path.name}: bad line {raw!r}'
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit, section, key):
    values = unit[section].get(key, [])
    assert len(values) == 1, f'{section}.{key}: {values}'
    return values[0]


def words(unit, section, key):
    return [w for v in unit[section].get(key, []) for w in v.split()]


def console_scripts():
    cfg = configparser.ConfigParser()
    cfg.read(TOP / 'setup.cfg')
    raw = cfg.get('options.entry_points', 'console_scripts')
    return {line.split('=')[0].strip() for line in raw.splitlines() if '=' in line}


def units():
    return {p.stem: parse_unit(p) for p in sorted(UNIT_DIR.glob('*.service'))}


def test_every_service_has_a_unit():
    assert set(units()) == set(ALL_SCRIPTS)


@pytest.mark.parametrize('name', LONG_RUNNING)
def test_long_running_units(name):
    unit = units()[name]
    assert one(unit, 'Service', 'Type') == 'simple'
    assert one(unit, 'Service', 'KillMode') == 'process'
    assert one(unit, 'Service', 'Restart') == 'on-failure'
    assert one(unit, 'Service', 'ExecReload') == '/bin/kill -HUP $MAINPID'
    assert one(unit, 'Install', 'WantedBy') == 'multi-user.target'
    after = words(unit, 'Unit', 'After')
    assert 'network-online.target' in after and 'rabbitmq-server.service' in after


@pytest.mark.parametrize('name', AGENTS)
def test_agents_start_after_cleanups_and_ovs_with_layered_config(name):
    unit = units()[name]
    after = words(unit, 'Unit', 'After')
    for dep in ('openvswitch-switch.service', 'netnode-ovs-cleanup.service',
                'netnode-netns-cleanup.service'):
        assert dep in after
    assert one(unit, 'Service', 'User') == 'root'
    argv = shlex.split(one(unit, 'Service', 'ExecStart'))
    ini = name.removeprefix('netnode-').replace('-', '_') + '.ini'
    assert argv[0] == f'/usr/bin/{name}'
    assert argv[1:] == [
        '--config-file', '/etc/netnode/netnode.conf',
        '--config-file', f'/etc/netnode/{ini}',
        '--config-dir', '/etc/netnode/conf.d/common',
        '--config-dir', f'/etc/netnode/conf.d/{name}',
        '--log-file', f'/var/log/netnode/{name.removeprefix("netnode-")}.log']
    # systemd creates the --config-dir directories (oslo.config refuses missing ones)
    assert words(unit, 'Service', 'ConfigurationDirectory') == [
        'netnode/conf.d/common', f'netnode/conf.d/{name}']


@pytest.mark.parametrize('name', CLEANUPS)
def test_cleanup_units_are_oneshots_before_the_agents(name):
    unit = units()[name]
    assert one(unit, 'Service', 'Type') == 'oneshot'
    assert one(unit, 'Service', 'RemainAfterExit') == 'yes'
    before = words(unit, 'Unit', 'Before')
    assert 'netnode-dhcp-agent.service' in before and 'netnode-l3-agent.service' in before
    assert 'openvswitch-switch.service' in words(unit, 'Unit', 'After')
    start = shlex.split(one(unit, 'Service', 'ExecStart'))
    assert start[0] == f'/usr/bin/{name}' and '--force' not in start


@pytest.mark.parametrize('name', CLEANUPS)
def test_cleanups_run_once_per_boot(name):
    """A restart of a cleanup oneshot (package upgrades restart units) finds the
    marker its first run left in /run (emptied at boot) and does nothing."""
    unit = units()[name]
    marker = f'/run/netnode/{name.removeprefix("netnode-")}.booted'
    assert one(unit, 'Unit', 'ConditionPathExists') == f'!{marker}'
    pre = [shlex.split(v) for v in unit['Service']['ExecStartPre']]
    assert ['/bin/touch', marker] in pre


# What may run when a unit stops or reloads: signals to the main process only.
STOP_KEYS = ('ExecStop', 'ExecStopPost', 'ExecReload')
ALLOWED_STOP_COMMANDS = (['/bin/kill', '-HUP', '$MAINPID'],)
TEARDOWN_WORDS = {'--force', 'kill', 'pkill', 'killall', 'ip', 'ovs-vsctl'}


@pytest.mark.parametrize('name', ALL_SCRIPTS)
def test_no_unit_tears_the_data_plane_down_on_stop_restart_or_reload(name):
    """systemd is not PID 1 here, so this reads the units: stopping or restarting
    any of them leaves namespaces, ports and children (dnsmasq, haproxy, radvd)
    serving: no cleanup tool, no --force, no kill but SIGHUP to the main process;
    and the long-running ones stop their main process only."""
    unit = units()[name]
    for key in STOP_KEYS:
        for value in unit['Service'].get(key, []):
            argv = [w.lstrip('-+!@:') if i == 0 else w
                    for i, w in enumerate(shlex.split(value))]
            if argv in ALLOWED_STOP_COMMANDS:
                continue
            script = argv[0].rsplit('/', 1)[-1]
            assert script not in ALL_SCRIPTS and not TEARDOWN_WORDS & {script, *argv}, (
                f'{name}.service {key}={value} would tear the data plane down')
    if name in LONG_RUNNING:
        assert one(unit, 'Service', 'KillMode') == 'process'


@pytest.mark.parametrize('name', ALL_SCRIPTS)
def test_commands_name_declared_console_scripts(name):
    declared = console_scripts()
    unit = units()[name]
    for key in ('ExecStart', 'ExecStop', 'ExecStopPost'):
        for value in unit['Service'].get(key, []):
            script = shlex.split(value)[0]
            assert script.startswith('/usr/bin/')
            assert script.removeprefix('/usr/bin/') in declared, (
                f'{name}.service runs {script}, which setup.cfg console_scripts lacks')


@pytest.mark.skipif(not shutil.which('systemd-analyze'), reason='no systemd-analyze')
def test_systemd_analyze_verify(tmp_path):
    """The units as systemd reads them, with stand-ins for the not yet installed
    /usr/bin scripts (verify insists the commands exist)."""
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    for script in ALL_SCRIPTS:
        exe = bindir / script
        exe.write_text('#!/bin/sh\nexit 0\n')
        exe.chmod(0o755)
    copies = []
    for path in sorted(UNIT_DIR.glob('*.service')):
        copy = tmp_path / path.name
        copy.write_text(path.read_text().replace('/usr/bin/netnode-', f'{bindir}/netnode-'))
        copies.append(str(copy))
    res = subprocess.run(['systemd-analyze', 'verify', '--man=no', *copies],
                         capture_output=True, text=True, timeout=60)
    ours = [line for line in (res.stdout + res.stderr).splitlines()
            if line.startswith('netnode-')]
    assert res.returncode == 0 and not ours, res.stdout + res.stderr


@pytest.mark.skipif(not shutil.which('systemd-sysusers'), reason='no systemd-sysusers')
def test_sysusers_creates_the_servers_user(tmp_path):
    """The user and group netnode-server.service runs as come from our sysusers.d
    file (applied to a scratch root, never to this machine)."""
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read(UNIT_DIR / 'netnode-server.service')
    (tmp_path / 'etc').mkdir()
    subprocess.run(['systemd-sysusers', f'--root={tmp_path}',
                    str(TOP / 'etc' / 'sysusers.d' / 'netnode.conf')],
                   check=True, capture_output=True)
    users = {line.split(':')[0]: line.split(':')
             for line in (tmp_path / 'etc' / 'passwd').read_text().splitlines()}
    groups = {line.split(':')[0] for line in (tmp_path / 'etc' / 'group').read_text().splitlines()}
    user = users[unit['Service']['User']]
    assert unit['Service']['Group'] in groups
    assert user[5] == '/var/lib/netnode' and user[6].endswith('nologin')
