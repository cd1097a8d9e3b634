"""devstack/settings and devstack/plugin.sh: syntax, the commands they call, the
paths they name, and what the hooks do when run against stand-ins for devstack's
functions (the config files they write must parse with oslo.config)."""

import configparser
import getpass
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import textwrap

import pytest

from agent.conf import opts, service
from tests.unit.conf import test_config_samples as samples_test

TOP = pathlib.Path(__file__).resolve().parents[3]
SETTINGS = TOP / 'devstack' / 'settings'
PLUGIN = TOP / 'devstack' / 'plugin.sh'
BIN_DIR = pathlib.Path(sys.executable).parent

# devstack functions the plugin may call (functions-common, inc/python, lib/rpc_backend)
DEVSTACK_FUNCTIONS = {
    'define_plugin', 'enable_service', 'disable_service', 'is_service_enabled',
    'setup_develop', 'install_package', 'is_ubuntu', 'iniset', 'get_transport_url',
    'run_process', 'stop_process', 'echo_summary', 'get_python_exec_prefix',
    'iniget', 'async_wait', 'conductor_conf', 'is_neutron_ovs_base_plugin',
    # lib/neutron, lib/neutron_plugins/services/l3
    '_configure_public_network_connectivity', '_neutron_get_ext_gw_interface',
    '_neutron_ovs_base_configure_l3_agent',
}
BASH_WORDS = {
    'if', 'then', 'elif', 'else', 'fi', 'for', 'in', 'do', 'done', 'while', 'function',
    'local', 'echo', 'set', 'unset', 'continue', 'return', 'true', 'false', '[[', '!',
    '}', '{', 'source', '.',
}
LEADING_KEYWORDS = {'if', 'elif', 'while', 'until', '!'}
# Not installed on every test machine, but always there under devstack.
DEVSTACK_HOST_COMMANDS = {'sudo', 'openstack'}
# What each agent is called in devstack, its binary variable and config variable.
AGENT_SERVICES = {
    'netnode-dhcp': ('netnode-dhcp-agent', 'dhcp_agent.ini'),
    'netnode-l3': ('netnode-l3-agent', 'l3_agent.ini'),
    'netnode-meta': ('netnode-metadata-agent', 'metadata_agent.ini'),
}


def logical_lines(path):
    text = path.read_text().replace('\\\n', ' ')
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith('#'):
            yield line


def commands(path):
    """The first word of every simple command, as bash would see it (enough for
    the plain style these scripts keep: no heredocs, no case, no nested $( ))."""
    found = []
    pending = list(logical_lines(path))
    while pending:
        line = pending.pop(0)
        if re.match(r'^function \w+ \{$', line) or re.match(r'^\w+\(\) \{$', line):
            continue
        # command substitutions are commands too: look at them on their own
        pending.extend(re.findall(r'\$\(([^()]*)\)', line))
        line = re.sub(r'\$\(([^()]*)\)', 'SUBST', line)
        line = re.sub(r'\[\[.*?\]\]', '[[', line)
        lexer = shlex.shlex(line, posix=True, punctuation_chars=';&|')
        lexer.whitespace_split = True
        words = []
        for token in list(lexer) + [';']:
            if token in (';', '&&', '||', '|', 'then', 'do', 'else'):
                while words and (re.match(r'^\w+=', words[0]) or words[0] in LEADING_KEYWORDS):
                    words.pop(0)
                if words and words[0] == 'sudo':
                    found.append(words.pop(0))
                if words and words[0] not in ('for', 'local'):
                    found.append(words[0])
                words = []
            else:
                words.append(token)
    return found


def defined_functions(path):
    return set(re.findall(r'^function (\w+) \{', path.read_text(), re.M))


def settings_defaults():
    """{VAR: default text} from the ``VAR=${VAR:-default}`` lines of settings."""
    return dict(re.findall(r'^(\w+)=\$\{\1:?-(.*)\}$', SETTINGS.read_text(), re.M))


def console_scripts():
    cfg = configparser.ConfigParser()
    cfg.read(TOP / 'setup.cfg')
    raw = cfg.get('options.entry_points', 'console_scripts')
    return {line.split('=')[0].strip() for line in raw.splitlines() if '=' in line}


@pytest.mark.parametrize('path', [SETTINGS, PLUGIN], ids=['settings', 'plugin.sh'])
def test_bash_syntax(path):
    res = subprocess.run(['bash', '-n', str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_settings_define_plugin_services_and_overridable_defaults():
    text = SETTINGS.read_text()
    assert re.search(r'^define_plugin netnode$', text, re.M)
    assert '"netnode-dhcp netnode-l3 netnode-meta"' in text
    defaults = settings_defaults()
    for var in ('NETNODE_DIR', 'NETNODE_BIN_DIR', 'NETNODE_CONF_DIR', 'NETNODE_STATE_PATH',
                'NETNODE_DHCP_BINARY', 'NETNODE_L3_BINARY', 'NETNODE_META_BINARY',
                'NETNODE_DHCP_CONF_FILE', 'NETNODE_L3_CONF_FILE', 'NETNODE_META_CONF_FILE'):
        assert var in defaults, f'{var} is not set as ${{{var}:-default}}'
    assert defaults['NETNODE_CONF_DIR'] == '/etc/netnode'


def test_every_command_is_devstack_ours_bash_or_installed():
    ours = defined_functions(PLUGIN)
    scripts = console_scripts()
    defaults = settings_defaults()
    unknown = []
    for path in (SETTINGS, PLUGIN):
        for word in commands(path):
            if word in DEVSTACK_FUNCTIONS | BASH_WORDS | DEVSTACK_HOST_COMMANDS | ours:
                continue
            if word.startswith('$'):
                var = re.match(r'^\$\{?(\w+)', word).group(1)
                if word.startswith('$NETNODE_DIR/'):
                    assert (TOP / word.removeprefix('$NETNODE_DIR/')).is_file(), word
                elif var.endswith('_BINARY'):
                    script = defaults[var].rsplit('/', 1)[-1]
                    assert script in scripts, f'{word}: {script} is not a console script'
                elif var != '_XTRACE_NETNODE':
                    unknown.append(word)
                continue
            if not shutil.which(word):
                unknown.append(word)
    assert not unknown, f'commands neither devstack, ours nor installed: {unknown}'


def test_run_process_commands_name_agent_binaries_and_neutron_conf_first():
    text = PLUGIN.read_text()
    defaults = settings_defaults()
    started = re.findall(r'run_process (\S+) "(\$\w+) --config-file \$NEUTRON_CONF '
                         r'--config-file (\$\w+)"', text)
    assert {s for s, _, _ in started} == set(AGENT_SERVICES)
    for svc, binary, conf in started:
        script, ini = AGENT_SERVICES[svc]
        assert defaults[binary[1:]] == f'$NETNODE_BIN_DIR/{script}'
        assert defaults[conf[1:]] == f'$NETNODE_CONF_DIR/{ini}'
        assert f'stop_process {svc}' in text


def test_paths_under_the_repository_exist():
    for path in (SETTINGS, PLUGIN):
        for ref in re.findall(r'\$NETNODE_DIR/([\w./-]+)', path.read_text()):
            assert (TOP / ref).exists(), f'{path.name} names {ref}'
    generated = {samples_test.generator_settings(p)[0].rsplit('/', 1)[-1]
                 for p in samples_test.generator_files()}
    for sample in re.findall(r'_configure_netnode_agent_file (\S+\.sample)', PLUGIN.read_text()):
        assert sample in generated


# -- running the hooks against stand-ins for devstack ------------------------------

INISET_PY = '''
import os, sys
path, section, option, value = sys.argv[1:5]
lines = open(path).read().splitlines() if os.path.exists(path) else []
out, current, done = [], None, False
for line in lines:
    stripped = line.strip()
    if stripped.startswith('[') and stripped.endswith(']'):
        if current == section and not done:
            out.append(f'{option} = {value}')
            done = True
        current = stripped[1:-1]
    elif current == section and not done and stripped.split('=')[0].strip() == option:
        out.append(f'{option} = {value}')
        done = True
        continue
    out.append(line)
if not done:
    if current != section:
        out.append(f'[{section}]')
    out.append(f'{option} = {value}')
open(path, 'w').write('\\n'.join(out) + '\\n')
'''

INIGET_PY = '''
import configparser, sys
parser = configparser.RawConfigParser()
parser.read(sys.argv[1])
print(parser.get(sys.argv[2], sys.argv[3], fallback=''))
'''

# What `openstack` answers the plugin (the router made by create_neutron_initial_network).
ROUTER_SHOW = ('{"external_gateway_info": {"network_id": "n1", "external_fixed_ips": ['
               '{"subnet_id": "s4", "ip_address": "172.24.4.10"}, '
               '{"subnet_id": "s6", "ip_address": "2001:db8::1"}]}}')

HARNESS = '''
LOG=$1; shift
log() { echo "$*" >> "$LOG"; }
define_plugin() { log define_plugin "$@"; }
enable_service() { log enable_service "$@"; }
disable_service() { log disable_service "$@"; }
is_service_enabled() {
    local s
    for s in "$@"; do
        [[ " $TEST_ENABLED " == *" $s "* ]] && return 0
    done
    return 1
}
is_ubuntu() { return 0; }
iniget() { "$TEST_PYTHON" "$TEST_INIGET" "$@"; }
async_wait() { log async_wait "$@"; }
conductor_conf() { echo "$TEST_CELL_CONF_DIR/nova_cell$1.conf"; }
is_neutron_ovs_base_plugin() { return 0; }
_configure_public_network_connectivity() { log _configure_public_network_connectivity; }
_neutron_ovs_base_configure_l3_agent() { log _neutron_ovs_base_configure_l3_agent; }
_neutron_get_ext_gw_interface() { echo br-ex; }
openstack() {
    log openstack "$@"
    if [[ " $* " == *" router show "* ]]; then echo "$TEST_ROUTER_SHOW"; fi
    if [[ " $* " == *" subnet show "* ]]; then echo 172.24.4.1; fi
}
ip() { log ip "$@"; }
setup_develop() { log setup_develop "$@"; }
install_package() { log install_package "$@"; }
echo_summary() { :; }
get_python_exec_prefix() { echo "$TEST_BIN_DIR"; }
get_transport_url() { echo "rabbit://stackrabbit:secret@192.0.2.10:5672/"; }
iniset() { "$TEST_PYTHON" "$TEST_INISET" "$@"; }
run_process() { log run_process "$1" "$2" "user=$4"; }
stop_process() { log stop_process "$@"; }
sudo() {
    if [[ "$1" == ip || "$1" == sysctl ]]; then log sudo "$@"; else "$@"; fi
}
set -e
source "$NETNODE_DIR/devstack/settings"
source "$NETNODE_DIR/devstack/plugin.sh" "$@"
'''


@pytest.fixture
def devstack(tmp_path):
    """Run ``plugin.sh <mode> [phase]`` the way devstack sources it."""
    (tmp_path / 'iniset.py').write_text(INISET_PY)
    (tmp_path / 'iniget.py').write_text(INIGET_PY)
    (tmp_path / 'harness.sh').write_text(HARNESS)
    (tmp_path / 'nova.conf').write_text('[DEFAULT]\n')
    (tmp_path / 'tempest.conf').write_text('[DEFAULT]\n')
    log = tmp_path / 'calls.log'
    fake_bin = tmp_path / 'fake-bin'
    fake_bin.mkdir()
    for tool in ('netnode-netns-cleanup', 'netnode-ovs-cleanup'):
        exe = fake_bin / tool
        exe.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n')
        exe.chmod(0o755)
    env = dict(
        os.environ, DEST=str(tmp_path / 'opt'), DATA_DIR=str(tmp_path / 'data'),
        NETNODE_DIR=str(TOP), NETNODE_CONF_DIR=str(tmp_path / 'etc-netnode'),
        NETNODE_SAMPLE_DIR=str(tmp_path / 'samples'), STACK_USER=getpass.getuser(),
        ENABLE_DEBUG_LOG_LEVEL='True', NEUTRON_CONF='/etc/neutron/neutron.conf',
        SERVICE_HOST='192.0.2.10', OVS_BRIDGE='br-int', PUBLIC_BRIDGE='br-ex',
        TEST_BIN_DIR=str(BIN_DIR), TEST_PYTHON=sys.executable,
        TEST_INISET=str(tmp_path / 'iniset.py'), TEST_INIGET=str(tmp_path / 'iniget.py'),
        TEST_ENABLED='netnode-dhcp netnode-l3 netnode-meta q-svc q-agt nova tempest',
        TEST_CELL_CONF_DIR=str(tmp_path), TEST_ROUTER_SHOW=ROUTER_SHOW,
        NOVA_CONF=str(tmp_path / 'nova.conf'), TEMPEST_CONFIG=str(tmp_path / 'tempest.conf'),
        SERVICE_PASSWORD='service-secret', REGION_NAME='RegionOne',
        NETNODE_NETNS_CLEANUP_BINARY=str(fake_bin / 'netnode-netns-cleanup'),
        NETNODE_OVS_CLEANUP_BINARY=str(fake_bin / 'netnode-ovs-cleanup'),
        PYTHONPATH=os.pathsep.join([str(samples_test.entry_point_shim(tmp_path)),
                                    str(TOP)]))

    def run(*args, **overrides):
        log.write_text('')
        res = subprocess.run(['bash', str(tmp_path / 'harness.sh'), str(log), *args],
                             capture_output=True, text=True, env={**env, **overrides},
                             timeout=180)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        return log.read_text().splitlines()

    run.env = env
    run.tmp = tmp_path
    return run


def agent_conf(path, agent_lists):
    groups = service.AGENT_GROUPS + tuple(
        (None if g == 'DEFAULT' else g, o) for g, o in agent_lists())
    return service.make_conf(['--config-file', str(path)], groups=groups)


def test_stack_install(devstack):
    calls = devstack('stack', 'install')
    assert f'setup_develop {TOP}' in calls
    assert 'install_package dnsmasq-base haproxy radvd' in calls


def test_settings_enable_the_agents(devstack):
    calls = devstack('stack', 'pre-install')
    assert 'define_plugin netnode' in calls
    enabled = {c.split()[1] for c in calls if c.startswith('enable_service')}
    assert enabled == set(AGENT_SERVICES)


def test_stack_post_config_writes_configs_oslo_config_accepts(devstack):
    devstack('stack', 'post-config')
    conf_dir = pathlib.Path(devstack.env['NETNODE_CONF_DIR'])
    lists = {'dhcp_agent.ini': opts.list_dhcp_agent_opts,
             'l3_agent.ini': opts.list_l3_agent_opts,
             'metadata_agent.ini': opts.list_metadata_agent_opts}
    for name, agent_lists in lists.items():
        conf = agent_conf(conf_dir / name, agent_lists)
        assert conf.transport_url == 'rabbit://stackrabbit:secret@192.0.2.10:5672/'
        assert conf.state_path == f'{devstack.env["DATA_DIR"]}/netnode'
        assert conf.host == subprocess.run(['hostname'], capture_output=True,
                                           text=True).stdout.strip()
        assert conf.debug is True
        assert conf.AGENT.report_interval == 30
        assert conf.ovs.integration_bridge == 'br-int'
        assert conf.ovs.external_bridge == 'br-ex'
        assert conf.ovs.datapath_type == 'system'
        assert conf.ovs.local_vlan_tagging is False      # q-agt binds the ports
        assert (conf.metadata_proxy_user, conf.metadata_proxy_group) == (
            'netnode-haproxy', 'netnode-haproxy')
        for group in [None, 'AGENT', 'ovs']:   # every value has a valid type
            node = conf if group is None else conf[group]
            for opt_name in list(node):
                if not isinstance(node[opt_name], type(conf.AGENT)):
                    node[opt_name]
        conf.reset()
    meta = agent_conf(conf_dir / 'metadata_agent.ini', opts.list_metadata_agent_opts)
    assert meta.metadata_backend == 'nova' and meta.nova_metadata_host == '192.0.2.10'


def test_stack_extra_runs_each_agent_as_root(devstack):
    calls = [c for c in devstack('stack', 'extra') if c.startswith('run_process')]
    assert len(calls) == 3
    conf_dir = devstack.env['NETNODE_CONF_DIR']
    for call, (svc, (script, ini)) in zip(calls, AGENT_SERVICES.items()):
        assert call == (f'run_process {svc} {BIN_DIR}/{script} --config-file '
                        f'/etc/neutron/neutron.conf --config-file {conf_dir}/{ini} user=root')


def _sleeper(marker_arg):
    """A process whose command line carries ``marker_arg`` (it never reads it)."""
    return subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)',
                             marker_arg])


def test_unstack_stops_agents_and_reaps_only_our_children(devstack, leaks):
    state = pathlib.Path(devstack.env['DATA_DIR']) / 'netnode'
    leaks.process_marker(str(state))
    net = '6f1c0d8e-31b4-4c0f-9d3a-5c1e2b7a9f00'
    (state / 'dhcp' / net).mkdir(parents=True)
    (state / 'external' / 'pids').mkdir(parents=True)
    ours = _sleeper(f'--conf-file={state}/dhcp/{net}/opts')
    foreign = _sleeper('--not-ours')
    try:
        (state / 'dhcp' / net / 'pid').write_text(f'{ours.pid}\n')
        # a stale pid file naming a process that is not ours must not get it killed
        (state / 'external' / 'pids' / f'{net}.pid.haproxy').write_text(f'{foreign.pid}\n')
        calls = devstack('unstack')
        assert [c for c in calls if c.startswith('stop_process')] == [
            f'stop_process {svc}' for svc in AGENT_SERVICES]
        assert ours.wait(timeout=10) is not None
        assert foreign.poll() is None
    finally:
        for proc in (ours, foreign):
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def test_clean_runs_the_cleanup_tools_with_the_agent_configs(devstack):
    calls = [c for c in devstack('clean') if c.startswith('netnode-')]
    conf_dir = devstack.env['NETNODE_CONF_DIR']
    files = f'--config-file {conf_dir}/dhcp_agent.ini --config-file {conf_dir}/l3_agent.ini'
    assert calls == [f'netnode-netns-cleanup --force {files}',
                     f'netnode-ovs-cleanup {files}']


# -- what devstack leaves undone when q-dhcp, q-l3 and q-meta are off ---------------

NEUTRON_AGENTS = ['disable_service q-dhcp neutron-dhcp', 'disable_service q-l3 neutron-l3',
                  'disable_service q-meta neutron-metadata-agent']


def test_settings_disable_the_neutron_agents_netnode_replaces(devstack):
    calls = devstack('stack', 'pre-install')
    assert [c for c in calls if c.startswith('disable_service')] == NEUTRON_AGENTS
    calls = devstack('stack', 'pre-install', NETNODE_SERVICES='netnode-dhcp')
    assert [c for c in calls if c.startswith('disable_service')] == NEUTRON_AGENTS[:1]
    calls = devstack('stack', 'pre-install', NETNODE_SERVICES='')           # compute node
    assert not [c for c in calls if c.startswith('disable_service')]
    calls = devstack('stack', 'pre-install', NETNODE_DISABLE_NEUTRON_AGENTS='False')
    assert not [c for c in calls if c.startswith('disable_service')]


def ini(path):
    parser = configparser.RawConfigParser()
    parser.read(path)
    return parser


def test_post_config_tells_nova_to_serve_the_metadata_proxy_with_the_shared_secret(devstack):
    calls = devstack('stack', 'post-config')
    assert 'async_wait configure_neutron_nova' in calls   # no race with devstack's own edits
    assert '_neutron_ovs_base_configure_l3_agent' in calls    # the public bridge, as q-l3's
    nova = ini(devstack.env['NOVA_CONF'])
    meta = ini(pathlib.Path(devstack.env['NETNODE_CONF_DIR']) / 'metadata_agent.ini')
    assert nova.get('neutron', 'service_metadata_proxy') == 'True'
    assert nova.get('neutron', 'metadata_proxy_shared_secret') == 'service-secret'
    assert meta.get('DEFAULT', 'metadata_proxy_shared_secret') == 'service-secret'

    devstack('stack', 'post-config', NETNODE_METADATA_SHARED_SECRET='chosen',
             CELLSV2_SETUP='superconductor', NOVA_NUM_CELLS='1')
    cell = devstack.tmp / 'nova_cell1.conf'
    assert ini(devstack.env['NOVA_CONF']).get('neutron', 'metadata_proxy_shared_secret') == 'chosen'
    assert ini(cell).get('neutron', 'service_metadata_proxy') == 'True'


def test_post_config_leaves_nova_alone_without_netnode_meta(devstack, tmp_path):
    nova_conf = tmp_path / 'untouched-nova.conf'
    nova_conf.write_text('[DEFAULT]\n')
    calls = devstack('stack', 'post-config', NOVA_CONF=str(nova_conf),
                     TEST_ENABLED='netnode-dhcp netnode-l3 q-svc q-agt nova')
    assert nova_conf.read_text() == '[DEFAULT]\n'
    assert 'async_wait configure_neutron_nova' not in calls
    calls = devstack('stack', 'post-config', TEST_ENABLED='netnode-dhcp netnode-l3 q-l3')
    assert '_neutron_ovs_base_configure_l3_agent' not in calls     # devstack does it


INITIAL_NETWORKS = dict(
    NEUTRON_CREATE_INITIAL_NETWORKS='True', ROUTER_ID='r1', PUB_SUBNET_ID='s4',
    IP_VERSION='4+6', FLOATING_RANGE='172.24.4.0/24', FIXED_RANGE='10.0.0.0/26',
    FIXED_RANGE_V6='fd12:3456:789a::/64', IPV6_PUBLIC_NETWORK_GATEWAY='2001:db8::2',
    IPV6_PUBLIC_RANGE='2001:db8::/64', Q_USE_PROVIDERNET_FOR_PUBLIC='True',
    Q_USE_PUBLIC_VETH='False', Q_ASSIGN_GATEWAY_TO_PUBLIC_BRIDGE='True',
    default_v6_route_devs='eth0')


def test_stack_extra_does_what_devstack_does_for_q_l3_on_the_public_bridge(devstack):
    calls = devstack('stack', 'extra', **INITIAL_NETWORKS)
    host = [c for c in calls if c.startswith(('sudo', '_configure'))]
    assert host == [
        '_configure_public_network_connectivity',
        'sudo ip addr add 172.24.4.1/24 dev br-ex',
        'sudo ip link set br-ex up',
        'sudo ip route replace 10.0.0.0/26 via 172.24.4.10 dev br-ex',
        'sudo sysctl -w net/ipv6/conf/eth0/accept_ra=2',
        'sudo sysctl -w net.ipv6.conf.all.forwarding=1',
        'sudo ip link set br-ex up',
        'sudo ip -6 addr replace 2001:db8::2/64 dev br-ex',
        'sudo ip -6 route replace fd12:3456:789a::/64 via 2001:db8::1 dev br-ex',
    ]
    # the subnet pools, when devstack made the private subnets from them
    calls = devstack('stack', 'extra', **dict(INITIAL_NETWORKS, IP_VERSION='4'),
                     PUBLIC_NETWORK_GATEWAY='172.24.4.254', SUBNETPOOL_V4_ID='p4',
                     SUBNETPOOL_PREFIX_V4='10.0.0.0/22')
    assert 'sudo ip addr add 172.24.4.254/24 dev br-ex' in calls
    assert 'sudo ip route replace 10.0.0.0/22 via 172.24.4.10 dev br-ex' in calls


def test_stack_extra_leaves_the_public_bridge_to_devstack_when_q_l3_runs(devstack):
    calls = devstack('stack', 'extra', **INITIAL_NETWORKS,
                     TEST_ENABLED='netnode-dhcp netnode-l3 netnode-meta q-l3 nova')
    assert not [c for c in calls if c.startswith(('sudo', '_configure', 'openstack'))]
    calls = devstack('stack', 'extra', **dict(INITIAL_NETWORKS, ROUTER_ID=''))
    assert not [c for c in calls if c.startswith(('sudo', '_configure', 'openstack'))]


@pytest.mark.parametrize('before,after', [
    ('router,l3_agent_scheduler,dhcp_agent_scheduler', None),
    ('router,dhcp_agent_scheduler', 'router,dhcp_agent_scheduler,l3_agent_scheduler'),
    ('all', None),
])
def test_test_config_gives_tempest_back_the_l3_agent_scheduler(devstack, before, after):
    tempest = pathlib.Path(devstack.env['TEMPEST_CONFIG'])
    tempest.write_text(f'[network-feature-enabled]\napi_extensions = {before}\n')
    devstack('stack', 'test-config')
    assert ini(tempest).get('network-feature-enabled', 'api_extensions') == (after or before)
