"""The sdist and the wheel as ``python -m build`` makes them (issue 14): what they
ship, the agents' dependencies without the controller's ([server] extra), no
build warning about packages, one version everywhere."""

import configparser
import email
import pathlib
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

TOP = pathlib.Path(__file__).resolve().parents[3]
BIN = pathlib.Path(sys.executable).parent
SERVER_ONLY = {'sqlalchemy', 'alembic', 'flask', 'cheroot', 'psycopg', 'pymysql',
               'oslo.middleware'}
# Not the sources: what a build or a test run leaves in a checkout.
SCRATCH = ('.git', '.venv*', 'build', 'dist', '*.egg-info', '__pycache__', '.pytest_cache',
           'state', 'logs')


def setup_cfg():
    parser = configparser.ConfigParser()
    parser.read(TOP / 'setup.cfg')
    return parser


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    """(sdist names, wheel names, wheel METADATA, build output), built offline
    (--no-isolation: the venv's setuptools and wheel) from a copy of the tree."""
    tmp = tmp_path_factory.mktemp('build')
    src = tmp / 'src'
    shutil.copytree(TOP, src, ignore=shutil.ignore_patterns(*SCRATCH))
    res = subprocess.run([sys.executable, '-m', 'build', '--no-isolation',
                          '--outdir', str(tmp / 'dist'), str(src)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (sdist,) = (tmp / 'dist').glob('*.tar.gz')
    (wheel,) = (tmp / 'dist').glob('*.whl')
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split('/')[0]
        in_sdist = {n.removeprefix(top + '/') for n in tar.getnames()}
    with zipfile.ZipFile(wheel) as whl:
        in_wheel = set(whl.namelist())
        meta_name = next(n for n in in_wheel if n.endswith('.dist-info/METADATA'))
        metadata = email.message_from_bytes(whl.read(meta_name))
    return in_sdist, in_wheel, metadata, res.stdout + res.stderr


def test_sdist_ships_units_configs_devstack_tools_tests_and_license(built):
    in_sdist = built[0]
    shipped = [
        'LICENSE', 'README.rst', 'requirements.txt', 'test-requirements.txt',
        'setup.cfg', 'pyproject.toml',
        'etc/systemd/netnode-dhcp-agent.service', 'etc/systemd/netnode-server.service',
        'etc/sysusers.d/netnode.conf', 'etc/oslo-config-generator/dhcp_agent.ini',
        'etc/logrotate.d/netnode',
        'devstack/plugin.sh', 'devstack/settings', 'devstack/local.conf.sample',
        'tools/setup-host.sh', 'tools/run-tests.sh', 'tools/generate-config-samples.sh',
        'tools/openstack-upper-constraints.txt',
        'tests/unit/packaging/test_packaging.py', 'tests/functional/test_ops_signals.py',
        'agent/controller/migrations/versions/0001_initial.py',
    ]
    assert [f for f in shipped if f not in in_sdist] == []
    assert not [n for n in in_sdist if n.endswith('.pyc') or '.venv' in n]


def test_wheel_holds_the_code_and_migrations_not_the_tests(built):
    in_wheel = built[1]
    for name in ('agent/cmd/run.py', 'agent/ops/gmr.py',
                 'agent/controller/migrations/env.py',
                 'agent/controller/migrations/script.py.mako',
                 'agent/controller/migrations/versions/0001_initial.py',
                 'agent/controller/migrations/versions/0002_instance_metadata.py'):
        assert name in in_wheel
    assert any(n.endswith('.dist-info/LICENSE') or '/licenses/LICENSE' in n
               for n in in_wheel)
    assert not [n for n in in_wheel if n.startswith('tests/')]


def test_no_package_left_out_of_the_build(built):
    """setuptools warned that agent.controller.migrations.versions (data then) was
    absent from ``packages``."""
    output = built[3]
    assert 'absent from the `packages` configuration' not in output
    assert 'Package would be ignored' not in output


def test_agents_dependencies_exclude_the_controllers(built):
    metadata = built[2]
    requires = metadata.get_all('Requires-Dist')
    plain = {r.split(';')[0] for r in requires if 'extra ==' not in r}
    server = {r.split(';')[0] for r in requires if 'extra == "server"' in r}

    def names(reqs):
        return {r.split('[')[0].split('<')[0].split('>')[0].split('=')[0].strip().lower()
                for r in reqs}
    assert names(plain) & SERVER_ONLY == set()
    assert SERVER_ONLY <= names(server)
    assert {'oslo.messaging', 'oslo.reports', 'pyroute2', 'ovsdbapp'} <= names(plain)
    assert 'server' in metadata.get_all('Provides-Extra')
    assert metadata['License'] == 'Apache-2.0'
    assert len(metadata.get_all('Project-URL')) >= 2


def test_requirements_txt_is_install_requires():
    listed = [line.strip() for line in (TOP / 'requirements.txt').read_text().splitlines()
              if line.strip() and not line.startswith('#')]
    declared = [line.strip() for line in
                setup_cfg().get('options', 'install_requires').splitlines() if line.strip()]
    assert listed == declared


def test_one_version_everywhere(built):
    """setup.cfg's version is what the metadata, the agents', the server's and the
    CLI's --version say (the agents said 0.1.0, the metadata 0.0.0)."""
    from agent import version
    want = setup_cfg().get('metadata', 'version')
    assert built[2]['Version'] == want
    assert version.version_string() == want
    for script in ('netnode-dhcp-agent', 'netnode-server', 'netnode'):
        res = subprocess.run([str(BIN / script), '--version'], capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert (res.stdout + res.stderr).split()[-1] == want, (script, res.stdout, res.stderr)
