import os

from agent.process import driver

NET = '524952ab-eb76-4838-8490-3a60a5746dcb'


def test_launcher_argv_like_neutron():
    assert driver.launcher_argv(f'qdhcp-{NET}', ('dnsmasq', '', '--x'),
                                (('PROCESS_TAG', f'dnsmasq-{NET}'),)) == [
        'ip', 'netns', 'exec', f'qdhcp-{NET}', 'env', f'PROCESS_TAG=dnsmasq-{NET}',
        'dnsmasq', '', '--x']
    assert driver.launcher_argv(None, ('haproxy',), ()) == ['env', 'haproxy']


def test_cmdline_keeps_empty_arguments():
    host = driver.HostProcessDriver()
    me = host.cmdline(os.getpid())
    assert me and 'python' in me[0]
    assert host.cmdline(2 ** 22 + 1) is None


def test_read_pid_tolerates_garbage(tmp_path):
    host = driver.HostProcessDriver()
    pid_file = tmp_path / 'pid'
    assert host.read_pid(str(pid_file)) is None
    for text, expected in (('123\n', 123), ('', None), ('abc', None), ('1', None)):
        pid_file.write_text(text)
        assert host.read_pid(str(pid_file)) == expected


def test_write_config_creates_dir_and_sets_mode(tmp_path):
    host = driver.HostProcessDriver()
    path = str(tmp_path / 'ns-metadata-proxy' / f'{NET}.conf')
    assert host.write_config(path, 'a', 0o640) is True
    assert os.stat(path).st_mode & 0o777 == 0o640
    os.chmod(path, 0o666)
    assert host.write_config(path, 'a', 0o640) is False
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_list_pid_files_both_layouts(tmp_path):
    host = driver.HostProcessDriver()
    (tmp_path / f'{NET}.pid.haproxy').write_text('1')
    (tmp_path / NET).mkdir()
    (tmp_path / NET / 'pid').write_text('1')
    (tmp_path / 'other').mkdir()
    assert host.list_pid_files(str(tmp_path), 'haproxy') == [
        (NET, str(tmp_path / NET / 'pid')),
        (NET, str(tmp_path / f'{NET}.pid.haproxy'))]
    assert host.list_pid_files(str(tmp_path / 'missing'), 'dnsmasq') == []


def test_spawn_reports_failure_output():
    result = driver.HostProcessDriver().spawn(None, ('sh', '-c', 'echo nope >&2; exit 3'), ())
    assert result == driver.SpawnResult(3, 'nope')
