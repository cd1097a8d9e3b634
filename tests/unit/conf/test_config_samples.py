"""The sample config files: every generator file produces its sample with the key
options, and the namespaces it names are declared as ``oslo.config.opts`` entry
points in setup.cfg (the "samples are current" check: they are generated)."""

import configparser
import importlib.metadata
import os
import pathlib
import re
import subprocess
import sys

import pytest

from agent.conf import opts

TOP = pathlib.Path(__file__).resolve().parents[3]
GENERATOR_DIR = TOP / 'etc' / 'oslo-config-generator'
SCRIPT = TOP / 'tools' / 'generate-config-samples.sh'
LIBRARY_NAMESPACES = {'oslo.log', 'oslo.messaging', 'oslo.middleware.healthcheck'}

# Our namespaces and the functions behind them, as setup.cfg must declare them.
ENTRY_POINTS = {
    'netnode.common': 'agent.conf.opts:list_common_opts',
    'netnode.server': 'agent.conf.opts:list_server_opts',
    'netnode.agent': 'agent.conf.opts:list_agent_opts',
    'netnode.dhcp_agent': 'agent.conf.opts:list_dhcp_agent_opts',
    'netnode.l3_agent': 'agent.conf.opts:list_l3_agent_opts',
    'netnode.metadata_agent': 'agent.conf.opts:list_metadata_agent_opts',
}

# What each sample must contain: (section, option) as the generator writes it.
KEY_OPTIONS = {
    'netnode.conf.sample': [('DEFAULT', 'transport_url'), ('DEFAULT', 'host'),
                            ('DEFAULT', 'state_path'), ('DEFAULT', 'bind_port'),
                            ('DEFAULT', 'control_exchange'), ('DEFAULT', 'debug'),
                            ('database', 'connection'), ('agent', 'report_interval'),
                            ('DEFAULT', 'enable_rpc'), ('DEFAULT', 'rpc_response_max_timeout'),
                            ('ovs', 'integration_bridge'),
                            ('oslo_messaging_rabbit', 'heartbeat_timeout_threshold'),
                            ('healthcheck', 'backends'),
                            ('healthcheck', 'disable_by_file_path')],
    'dhcp_agent.ini.sample': [('DEFAULT', 'host'), ('DEFAULT', 'state_path'),
                              ('DEFAULT', 'rpc_response_max_timeout'),
                              ('DEFAULT', 'log_file'), ('agent', 'report_interval'),
                              ('DEFAULT', 'dhcp_lease_duration'),
                              ('DEFAULT', 'dnsmasq_dns_servers'),
                              ('DEFAULT', 'metadata_proxy_socket'),
                              ('ovs', 'integration_bridge'), ('ovs', 'datapath_type')],
    'l3_agent.ini.sample': [('DEFAULT', 'state_path'), ('agent', 'report_interval'),
                            ('DEFAULT', 'metadata_port'),
                            ('DEFAULT', 'metadata_proxy_socket'),
                            ('ovs', 'integration_bridge'), ('ovs', 'external_bridge')],
    'metadata_agent.ini.sample': [('DEFAULT', 'state_path'), ('DEFAULT', 'log_file'),
                                  ('DEFAULT', 'metadata_proxy_socket'),
                                  ('DEFAULT', 'metadata_backend'),
                                  ('DEFAULT', 'nova_metadata_host')],
}


def generator_files():
    return sorted(GENERATOR_DIR.iterdir())


def generator_settings(path):
    """(output_file, [namespaces]) of one generator file (namespace repeats)."""
    output, namespaces = None, []
    for line in path.read_text().splitlines():
        key, sep, value = line.partition('=')
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == 'output_file':
            output = value
        elif key == 'namespace':
            namespaces.append(value)
    return output, namespaces


def setup_cfg_entry_points(group):
    cfg = configparser.ConfigParser()
    cfg.read(TOP / 'setup.cfg')
    raw = cfg.get('options.entry_points', group, fallback='')
    pairs = (line.split('=', 1) for line in raw.splitlines() if '=' in line)
    return {name.strip(): target.strip() for name, target in pairs}


def installed_opts_namespaces():
    return {ep.name for ep in importlib.metadata.entry_points(group='oslo.config.opts')}


def entry_point_shim(tmp_path):
    """A dist-info on PYTHONPATH declaring our namespaces that are not installed yet.

    An editable install only picks up new entry points when it is reinstalled; the
    shim lets the generator see them now, and adds nothing that is installed (the
    generator would list those options twice).
    """
    missing = {name: target for name, target in ENTRY_POINTS.items()
               if name not in installed_opts_namespaces()}
    shim = tmp_path / 'shim'
    info = shim / 'netnode_opts_shim-0.dist-info'
    info.mkdir(parents=True)
    (info / 'METADATA').write_text('Metadata-Version: 2.1\nName: netnode-opts-shim\n'
                                   'Version: 0\n')
    (info / 'entry_points.txt').write_text(
        '[oslo.config.opts]\n' + ''.join(f'{n} = {t}\n' for n, t in missing.items()))
    return shim


def generate(tmp_path):
    out = tmp_path / 'samples'
    env = dict(os.environ, OSLO_CONFIG_GENERATOR=str(pathlib.Path(sys.executable).parent
                                                     / 'oslo-config-generator'),
               PYTHONPATH=os.pathsep.join([str(entry_point_shim(tmp_path)), str(TOP)]))
    res = subprocess.run(['bash', str(SCRIPT), str(out)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope='module')
def samples(tmp_path_factory):
    return generate(tmp_path_factory.mktemp('genconfig'))


def sample_options(path):
    """{(section, option)} of a sample, commented-out defaults included."""
    found, section = set(), None
    for line in path.read_text().splitlines():
        if line.startswith('[') and line.endswith(']'):
            section = line[1:-1]
        elif section and (match := re.match(r'^#(\w+) =', line)):
            found.add((section, match.group(1)))
    return found


def test_every_generator_file_names_its_sample_and_known_namespaces():
    assert {p.name for p in generator_files()} == {
        'netnode.conf', 'dhcp_agent.ini', 'l3_agent.ini', 'metadata_agent.ini'}
    for path in generator_files():
        output, namespaces = generator_settings(path)
        assert output == f'etc/{path.name}.sample', path
        assert 'wrap_width = 79' in path.read_text()
        assert 'oslo.log' in namespaces
        assert len(namespaces) == len(set(namespaces)), path
        unknown = set(namespaces) - set(ENTRY_POINTS) - LIBRARY_NAMESPACES
        assert not unknown, f'{path.name}: unknown namespaces {unknown}'


def test_setup_cfg_declares_our_namespaces():
    declared = setup_cfg_entry_points('oslo.config.opts')
    missing = {n: t for n, t in ENTRY_POINTS.items() if declared.get(n) != t}
    assert not missing, ('setup.cfg [options.entry_points] oslo.config.opts lacks:\n'
                         + '\n'.join(f'    {n} = {t}' for n, t in missing.items()))


@pytest.mark.parametrize('name', ['list_common_opts', 'list_server_opts',
                                  'list_agent_opts', 'list_dhcp_agent_opts',
                                  'list_l3_agent_opts', 'list_metadata_agent_opts'])
def test_list_functions_return_groups_of_original_options(name):
    result = getattr(opts, name)()
    assert isinstance(result, list)
    for group, options in result:
        assert isinstance(group, str) and options
        assert all(hasattr(o, 'dest') for o in options)
    # the same objects each time, as the generator expects
    again = getattr(opts, name)()
    assert [id(o) for _, os_ in result for o in os_] == [id(o) for _, os_ in again
                                                         for o in os_]


def test_namespaces_of_one_file_never_repeat_an_option():
    for path in generator_files():
        seen = {}
        for ns in generator_settings(path)[1]:
            if ns in LIBRARY_NAMESPACES:
                continue
            module, func = ENTRY_POINTS[ns].split(':')
            for group, options in getattr(opts, func)():
                for opt in options:
                    key = (group.lower() if group != 'DEFAULT' else group, opt.dest)
                    assert key not in seen, f'{path.name}: {key} in {seen.get(key)} and {ns}'
                    seen[key] = ns


@pytest.mark.parametrize('sample', sorted(KEY_OPTIONS))
def test_sample_is_generated_with_key_options(samples, sample):
    path = samples / sample
    assert path.is_file(), f'{sample} was not generated'
    found = sample_options(path)
    missing = [f'[{s}] {o}' for s, o in KEY_OPTIONS[sample] if (s, o) not in found]
    assert not missing, f'{sample} lacks {missing}'
    help_lines = [line for line in path.read_text().splitlines() if line.startswith('# ')]
    assert max(len(line) for line in help_lines) <= 79   # wrap_width applied


def test_each_agent_sample_lists_what_the_agent_registers(samples):
    from agent.conf import service
    for sample, groups in (('dhcp_agent.ini.sample', service.DHCP_AGENT_GROUPS),
                           ('l3_agent.ini.sample', service.L3_AGENT_GROUPS),
                           ('metadata_agent.ini.sample', service.METADATA_AGENT_GROUPS)):
        found = sample_options(samples / sample)
        wanted = {((group or 'DEFAULT') if (group or 'DEFAULT') == 'DEFAULT'
                   else group.lower(), opt.dest) for group, opts in groups for opt in opts}
        assert wanted <= found, f'{sample} lacks {sorted(wanted - found)}'


def test_samples_parse_with_oslo_config(samples):
    from agent.conf import service
    for sample in KEY_OPTIONS:
        conf = service.make_conf(['--config-file', str(samples / sample)],
                                 groups=service.SERVER_GROUPS + service.AGENT_GROUPS)
        assert conf.state_path == '/var/lib/netnode'


def test_server_sample_shows_the_healthcheck_defaults_the_server_uses(samples):
    """agent.conf.healthcheck:set_defaults is the generator's defaults hook too."""
    from agent.conf import healthcheck
    text = (samples / 'netnode.conf.sample').read_text()
    assert '#backends = disable_by_file\n' in text
    assert f'#disable_by_file_path = {healthcheck.DISABLE_BY_FILE_PATH}\n' in text
