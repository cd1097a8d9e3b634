"""The shipped systemd units: kill mode, restart policy, ordering, commands that
name console scripts setup.cfg declares, capability bounds and sandboxing.
``systemd-analyze verify`` and ``systemd-analyze security --offline`` check them
too when they are installed."""

import configparser
import pathlib
import re
import shlex
import shutil
import subprocess

import pytest

TOP = pathlib.Path(__file__).resolve().parents[3]
UNIT_DIR = TOP / 'etc' / 'systemd'
AGENTS = ('netnode-dhcp-agent', 'netnode-l3-agent', 'netnode-metadata-agent')
LONG_RUNNING = ('netnode-server',) + AGENTS
CLEANUPS = ('netnode-netns-cleanup', 'netnode-ovs-cleanup')
ALL_SCRIPTS = LONG_RUNNING + CLEANUPS
DATAPLANE_AGENTS = ('netnode-dhcp-agent', 'netnode-l3-agent')
# The capabilities each unit keeps (the reasons are in the unit files and README.rst;
# tests/functional/test_capability_bounds.py runs the agents under DATAPLANE_CAPS).
DATAPLANE_CAPS = {'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_ADMIN',
                  'CAP_SYS_PTRACE', 'CAP_KILL', 'CAP_SETUID', 'CAP_SETGID',
                  'CAP_DAC_OVERRIDE'}
CAPS = {'netnode-dhcp-agent': DATAPLANE_CAPS, 'netnode-l3-agent': DATAPLANE_CAPS,
        'netnode-metadata-agent': {'CAP_CHOWN', 'CAP_DAC_OVERRIDE'},
        'netnode-server': set(),
        'netnode-netns-cleanup': {'CAP_NET_ADMIN', 'CAP_SYS_ADMIN', 'CAP_KILL',
                                  'CAP_SYS_PTRACE', 'CAP_DAC_OVERRIDE'},
        'netnode-ovs-cleanup': {'CAP_NET_ADMIN'}}
# Directives that give a unit a mount namespace of its own: the namespaces the
# agents mount under /run/netns would be invisible to the host and die with it.
MOUNT_NAMESPACE_KEYS = ('ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices',
                        'PrivateMounts', 'ProtectKernelTunables', 'ProtectKernelModules',
                        'ProtectKernelLogs', 'ProtectControlGroups', 'ProtectProc',
                        'ProcSubset', 'ReadWritePaths', 'ReadOnlyPaths',
                        'InaccessiblePaths', 'TemporaryFileSystem', 'BindPaths',
                        'MountFlags')
# systemd-analyze security --offline=true exposure (10 = unsafe); issue 10 found 9.6
# for every unit.  What the units score now, with a little room.
MAX_EXPOSURE = {'netnode-dhcp-agent': 6.5, 'netnode-l3-agent': 6.5,
                'netnode-metadata-agent': 2.5, 'netnode-server': 1.5,
                'netnode-netns-cleanup': 6.0, 'netnode-ovs-cleanup': 5.0}


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


# Open vSwitch's unit: Debian/Ubuntu's and RHEL/Fedora's names.
OVS_UNITS = ('openvswitch-switch.service', 'openvswitch.service')
OVS_USERS = DATAPLANE_AGENTS + CLEANUPS


@pytest.mark.parametrize('name', LONG_RUNNING)
def test_long_running_units(name):
    unit = units()[name]
    # READY=1 from the service itself (agent.ops.sdnotify), not at fork
    assert one(unit, 'Service', 'Type') == 'notify'
    assert not unit['Service'].get('NotifyAccess'), 'only the main process notifies'
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
    for dep in OVS_UNITS + ('netnode-ovs-cleanup.service', 'netnode-netns-cleanup.service'):
        assert dep in after
    # the agents ping while their own loops live, whatever the broker does
    assert one(unit, 'Service', 'WatchdogSec') == '60'
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
    assert not unit['Service'].get('StateDirectory') and not unit['Service'].get('LogsDirectory')


@pytest.mark.parametrize('name', OVS_USERS)
def test_ovs_users_want_and_follow_either_ovs_unit(name):
    """Wants= pulls Open vSwitch in under either distribution's name (a missing
    unit is no error for Wants=), After= orders the start behind it."""
    unit = units()[name]
    for dep in OVS_UNITS:
        assert dep in words(unit, 'Unit', 'After'), f'{name}: not After={dep}'
        assert dep in words(unit, 'Unit', 'Wants'), f'{name}: not Wants={dep}'
        assert dep not in words(unit, 'Unit', 'Requires')
    # systemd creates the --config-dir directories (oslo.config refuses missing ones)
    assert words(unit, 'Service', 'ConfigurationDirectory') == [
        'netnode/conf.d/common', f'netnode/conf.d/{name}']


def capabilities(unit):
    return set(words(unit, 'Service', 'CapabilityBoundingSet'))


@pytest.mark.parametrize('name', ALL_SCRIPTS)
def test_each_unit_keeps_only_its_capabilities(name):
    unit = units()[name]
    assert unit['Service'].get('CapabilityBoundingSet'), f'{name}: no capability bound'
    assert capabilities(unit) == CAPS[name]
    assert one(unit, 'Service', 'NoNewPrivileges') == 'yes'
    assert one(unit, 'Service', 'UMask') == '0027'


@pytest.mark.parametrize('name', DATAPLANE_AGENTS + ('netnode-netns-cleanup',))
def test_namespace_makers_share_the_hosts_mounts(name):
    """/run/netns mounts stay visible to the host and survive a restart; setns is
    not filtered (RestrictNamespaces=); namespaces' sysctls stay writable."""
    unit = units()[name]
    for key in MOUNT_NAMESPACE_KEYS + ('RestrictNamespaces', 'PrivateNetwork',
                                       'PrivateUsers', 'IPAddressDeny',
                                       'MemoryDenyWriteExecute'):
        values = [v for v in unit['Service'].get(key, []) if v not in ('false', 'no')]
        assert not values, f'{name}: {key}={values}'
    denied = words(unit, 'Service', 'SystemCallFilter')
    assert denied[0].startswith('~') and '@mount' not in ' '.join(denied)
    assert '@privileged' not in ' '.join(denied) and '@setuid' not in ' '.join(denied)


@pytest.mark.parametrize('name', ('netnode-server', 'netnode-metadata-agent'))
def test_services_without_namespaces_are_sandboxed(name):
    unit = units()[name]
    for key in ('ProtectSystem', 'PrivateTmp', 'PrivateDevices', 'ProtectHome',
                'ProtectKernelTunables', 'RestrictNamespaces'):
        assert unit['Service'].get(key), f'{name}: no {key}'
    assert one(unit, 'Service', 'ProtectSystem') == 'strict'


def test_metadata_agent_may_write_only_its_state_and_logs():
    unit = units()['netnode-metadata-agent']
    assert words(unit, 'Service', 'ReadWritePaths') == ['/var/lib/netnode', '/var/log/netnode']
    # the directories exist before the sandbox opens them ('+': outside it)
    assert one(unit, 'Service', 'ExecStartPre').startswith('+/bin/mkdir -p ')


def test_server_has_state_and_logs_directories_of_its_own():
    """systemd chowns a StateDirectory=/LogsDirectory= recursively to User=: the
    server's must not be /var/lib/netnode and /var/log/netnode, where the root
    agents of a node running both keep their state and logs.  Its state_path
    default and its log file are in them."""
    from agent.conf import options
    unit = units()['netnode-server']
    assert one(unit, 'Service', 'StateDirectory') == 'netnode-server'
    assert one(unit, 'Service', 'LogsDirectory') == 'netnode-server'
    assert one(unit, 'Service', 'StateDirectoryMode') == '0700'
    assert options.SERVER_STATE_PATH == '/var/lib/netnode-server'
    argv = shlex.split(one(unit, 'Service', 'ExecStart'))
    assert argv[argv.index('--log-file') + 1] == '/var/log/netnode-server/server.log'


@pytest.mark.skipif(not shutil.which('systemd-analyze'), reason='no systemd-analyze')
@pytest.mark.parametrize('name', ALL_SCRIPTS)
def test_systemd_analyze_security_exposure(name):
    res = subprocess.run(['systemd-analyze', 'security', '--offline=true', '--no-pager',
                          str(UNIT_DIR / f'{name}.service')],
                         capture_output=True, text=True, timeout=60)
    found = re.search(r'Overall exposure level for \S+: (\d+\.\d+)', res.stdout + res.stderr)
    assert found, res.stdout + res.stderr
    print(f'{name}: exposure {found.group(1)}')
    assert float(found.group(1)) <= MAX_EXPOSURE[name]


@pytest.mark.parametrize('name', CLEANUPS)
def test_cleanup_units_are_oneshots_before_the_agents(name):
    unit = units()[name]
    assert one(unit, 'Service', 'Type') == 'oneshot'
    assert one(unit, 'Service', 'RemainAfterExit') == 'yes'
    before = words(unit, 'Unit', 'Before')
    assert 'netnode-dhcp-agent.service' in before and 'netnode-l3-agent.service' in before
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
def test_sysusers_creates_the_servers_and_the_proxies_users(tmp_path):
    """The user and group netnode-server.service runs as, and those the metadata
    proxies drop to by default (metadata_proxy_user/group), come from our
    sysusers.d file (applied to a scratch root, never to this machine)."""
    from agent.conf import options
    proxy = {o.name: o.default for o in options.metadata_proxy_opts}
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
    assert user[5] == '/var/lib/netnode-server' and user[6].endswith('nologin')
    haproxy = users[proxy['metadata_proxy_user']]
    assert proxy['metadata_proxy_group'] in groups
    assert int(haproxy[2]) < 1000 and haproxy[6].endswith('nologin')


def test_server_state_path_defaults_to_its_own_directory(tmp_path):
    """The server's state_path (its SQLite file) is /var/lib/netnode-server unless
    configured; the agents' stays /var/lib/netnode."""
    from agent.cmd import server
    from agent.conf import service
    empty = tmp_path / 'netnode.conf'
    empty.write_text('[DEFAULT]\n')
    assert server.make_conf(['--config-file', str(empty)]).state_path == \
        '/var/lib/netnode-server'
    assert service.make_conf(['--config-file', str(empty)]).state_path == '/var/lib/netnode'
    empty.write_text('[DEFAULT]\nstate_path = /srv/netnode\n')
    assert server.make_conf(['--config-file', str(empty)]).state_path == '/srv/netnode'
