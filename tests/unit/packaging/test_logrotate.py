"""etc/logrotate.d/netnode: it covers the files the units log to, rotates by
rename (oslo.log's WatchedFileHandler reopens; see the file's comment), and a
real logrotate run under a process logging through oslo.log loses no line."""

import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

TOP = pathlib.Path(__file__).resolve().parents[3]
CONFIG = TOP / 'etc' / 'logrotate.d' / 'netnode'
UNITS = TOP / 'etc' / 'systemd'


def blocks(text):
    """{path pattern: [directives]} of a logrotate file."""
    found = {}
    for paths, body in re.findall(r'^(/[^{\n]+)\{(.*?)^\}', text, re.M | re.S):
        lines = [line.strip() for line in body.splitlines()
                 if line.strip() and not line.strip().startswith('#')]
        for path in paths.split():
            found[path] = lines
    return found


def unit_log_files():
    files = []
    for unit in UNITS.glob('*.service'):
        for line in unit.read_text().splitlines():
            if line.startswith('ExecStart=') and '--log-file' in line:
                argv = shlex.split(line.partition('=')[2])
                files.append(argv[argv.index('--log-file') + 1])
    return files


def test_every_units_log_file_is_rotated_by_rename():
    rotated = blocks(CONFIG.read_text())
    assert rotated
    files = unit_log_files()
    assert len(files) >= 4
    for path in files:
        pattern = str(pathlib.Path(path).parent / '*.log')
        assert pattern in rotated, f'{path} is not rotated'
    for directives in rotated.values():
        assert 'copytruncate' not in directives and 'create' in directives
        assert 'missingok' in directives and 'delaycompress' in directives
    assert 'su netnode netnode' in rotated['/var/log/netnode-server/*.log']


WRITER = textwrap.dedent('''
    import sys, time
    from oslo_config import cfg
    from oslo_log import log
    conf = cfg.ConfigOpts()
    log.register_options(conf)
    conf(['--log-file', sys.argv[1]])
    log.setup(conf, 'writer')
    logger = log.getLogger('writer')
    for i in range(int(sys.argv[2])):
        logger.info('line %d', i)
        time.sleep(0.005)
''')


@pytest.mark.skipif(not shutil.which('logrotate'), reason='no logrotate')
def test_a_real_rotation_under_an_oslo_log_writer_loses_nothing(tmp_path):
    logs = tmp_path / 'log'
    logs.mkdir(mode=0o755)
    config = tmp_path / 'netnode.logrotate'
    text = CONFIG.read_text().replace('/var/log/netnode-server/', f'{tmp_path}/unused/')
    text = text.replace('/var/log/netnode/', f'{logs}/').replace('su netnode netnode', '')
    config.write_text(text)
    log_file = logs / 'dhcp-agent.log'
    count = 400
    writer = subprocess.Popen([sys.executable, '-c', WRITER, str(log_file), str(count)])
    try:
        deadline = time.monotonic() + 30
        while not (log_file.exists() and log_file.stat().st_size > 2000):
            assert writer.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        res = subprocess.run(['logrotate', '-f', '-s', str(tmp_path / 'state'), str(config)],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert writer.wait(60) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
    old = (logs / 'dhcp-agent.log.1').read_text()      # delaycompress: still plain
    new = log_file.read_text()
    assert old and new, 'the writer did not go on in a new file'
    seen = [int(n) for n in re.findall(r'line (\d+)', old + new)]
    assert seen == list(range(count))
