"""Who can reach what: the agents' start-up check that dnsmasq's and haproxy's
users reach their files (agent.common.access), the SQLite database's mode, the
all-in-one's config modes, and directories made with exact modes whatever the
umask.  Real files in a scratch directory."""

import os
import pathlib
import shutil
import stat
import tempfile
import types

import pytest

from agent.common import access, fileutils
from agent.controller.db import engine

NOBODY = access.Identity.of('nobody')


@pytest.fixture
def open_tmp():
    """A scratch directory every user can search (pytest's tmp_path lives under a
    0700 directory: nobody could reach anything in it)."""
    path = tempfile.mkdtemp(prefix='netnode-access-')
    os.chmod(path, 0o755)
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize('perm, owner, want, ok', [
    (0o755, (0, 0), os.X_OK, True),
    (0o700, (0, 0), os.X_OK, False),
    (0o711, (0, 0), os.X_OK, True),
    (0o711, (0, 0), os.R_OK, False),
    (0o750, (0, 65534), os.X_OK, True),       # nobody's group
    (0o077, (65534, 0), os.X_OK, False),      # owner bits apply to the owner
    (0o640, (0, 0), os.R_OK, False),
    (0o644, (0, 0), os.R_OK, True),
])
def test_permission_bits_as_the_kernel_applies_them(perm, owner, want, ok):
    who = access.Identity('nobody', 65534, frozenset({65534}))
    st = os.stat_result((stat.S_IFDIR | perm, 0, 0, 1, owner[0], owner[1], 0, 0, 0, 0))
    assert access.allowed(st, who, want) is ok


def test_root_reaches_everything(tmp_path):
    (tmp_path / 'closed').mkdir(mode=0o700)
    assert access.problem(str(tmp_path / 'closed' / 'x'), access.Identity.of('root')) is None


def test_a_directory_on_the_way_that_nobody_cannot_search_is_named(open_tmp):
    base = open_tmp / 'base'
    (base / 'state' / 'dhcp').mkdir(parents=True)
    os.chmod(base, 0o700)
    why = access.problem(str(base / 'state' / 'dhcp'), NOBODY, os.X_OK)
    assert why is not None and why.startswith(f'{base} (mode 0700') and 'user nobody' in why
    os.chmod(base, 0o711)
    assert access.problem(str(base / 'state' / 'dhcp'), NOBODY, os.X_OK) is None
    # what does not exist yet is the agent's to make
    assert access.problem(str(base / 'state' / 'new' / 'x'), NOBODY) is None


def test_dnsmasq_check_names_the_path_and_user(open_tmp):
    state = open_tmp / 'private' / 'state'
    state.mkdir(parents=True)
    os.chmod(open_tmp / 'private', 0o700)
    with pytest.raises(access.UnreachableError) as err:
        access.check_dnsmasq_reach(str(state / 'dhcp'))
    assert 'dnsmasq runs as user nobody' in str(err.value)
    assert f'{open_tmp / "private"} (mode 0700' in str(err.value)
    os.chmod(open_tmp / 'private', 0o755)
    access.check_dnsmasq_reach(str(state / 'dhcp'))
    net = state / 'dhcp' / 'net1'
    net.mkdir()
    (net / 'host').write_text('')
    os.chmod(net / 'host', 0o600)
    with pytest.raises(access.UnreachableError, match='host .mode 0600'):
        access.check_dnsmasq_reach(str(state / 'dhcp'))


def test_proxy_check_names_the_socket_directory(open_tmp):
    state = open_tmp / 'state'
    state.mkdir(mode=0o700)
    os.chmod(state, 0o700)
    with pytest.raises(access.UnreachableError) as err:
        access.check_proxy_reach(str(state / 'metadata_proxy'), 'nobody', 'nogroup', None)
    assert 'haproxy) run as user nobody' in str(err.value) and str(state) in str(err.value)
    os.chmod(state, 0o711)
    logged = []
    log = types.SimpleNamespace(error=lambda *a: logged.append(a[0] % a[1:]))
    (state / 'metadata_proxy').write_text('')
    os.chmod(state / 'metadata_proxy', 0o644)        # what Neutron's 'user' mode makes
    access.check_proxy_reach(str(state / 'metadata_proxy'), 'nobody', 'nogroup', log)
    assert logged and 'cannot connect to the metadata socket' in logged[0]


def test_ensure_dir_gives_exactly_the_mode_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        fileutils.ensure_dir(str(tmp_path / 'a' / 'b'))
    finally:
        os.umask(old)
    assert mode(tmp_path / 'a') == mode(tmp_path / 'a' / 'b') == 0o755


def test_sqlite_database_and_journals_are_0600(tmp_path):
    """Issue 10: netnode.sqlite and -wal were 0644 (nobody could read every
    instance's user data)."""
    path = tmp_path / 'netnode.sqlite'
    db = engine.Database(f'sqlite:///{path}')
    with db.engine.begin() as conn:
        conn.exec_driver_sql('PRAGMA journal_mode=WAL')
        conn.exec_driver_sql('CREATE TABLE t (x)')
        conn.exec_driver_sql('INSERT INTO t VALUES (1)')
    with db.engine.connect() as conn:
        conn.exec_driver_sql('SELECT * FROM t').all()
        files = sorted(p.name for p in tmp_path.iterdir())
        assert files == ['netnode.sqlite', 'netnode.sqlite-shm', 'netnode.sqlite-wal']
        assert {name: mode(tmp_path / name) for name in files} == dict.fromkeys(files, 0o600)
    db.engine.dispose()


def test_sqlite_files_of_an_older_version_are_tightened(tmp_path):
    path = tmp_path / 'netnode.sqlite'
    for name in ('netnode.sqlite', 'netnode.sqlite-wal'):
        (tmp_path / name).write_bytes(b'')
        os.chmod(tmp_path / name, 0o644)
    engine.make_sqlite_file_private(str(path))
    assert mode(path) == mode(tmp_path / 'netnode.sqlite-wal') == 0o600


def test_controller_creates_its_state_path_searchable_not_listable(tmp_path):
    conf = types.SimpleNamespace(database=types.SimpleNamespace(connection=''),
                                 state_path=str(tmp_path / 'state'))
    old = os.umask(0o022)
    try:
        url = engine.database_url(conf)
    finally:
        os.umask(old)
    assert url.endswith('/state/netnode.sqlite') and mode(tmp_path / 'state') == 0o711


def test_all_in_one_configs_are_0640(tmp_path):
    """netnode.conf holds the RabbitMQ password (it was 0644)."""
    from agent.tools.aio import services
    s = types.SimpleNamespace(config_files=lambda: {
        str(tmp_path / 'netnode.conf'): 'transport_url = rabbit://guest:secret@h/\n',
        str(tmp_path / 'server.conf'): '[DEFAULT]\n'})
    assert sorted(services.write_configs(s)) == sorted(s.config_files())
    assert {mode(p) for p in s.config_files()} == {0o640}
    os.chmod(tmp_path / 'netnode.conf', 0o644)          # written by an older version
    assert services.write_configs(s) == []
    assert mode(tmp_path / 'netnode.conf') == 0o640
