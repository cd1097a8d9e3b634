"""A real ``netnode-server`` process for tests and benchmarks.

It listens on a port the kernel picks (``bind_port = 0``, read back from the
log), keeps its state, config and log under one directory, and runs without the
message bus (``enable_rpc = false``) unless told otherwise.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

from tests import pgdb

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
SERVER_BIN = os.path.join(os.path.dirname(sys.executable), 'netnode-server')
CLI_BIN = os.path.join(os.path.dirname(sys.executable), 'netnode')
_LISTEN_RE = re.compile(r'REST API on http://[^ ]+:(\d+)/')


def create_pg_database(name):
    return pgdb.create_database(name)


def drop_pg_database(name):
    pgdb.drop_database(name)


def json_call(url, method, body=None, headers=None):
    """A JSON request: (status, parsed body or None; the text if it is not JSON)."""
    data = body if isinstance(body, bytes) else (
        json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={'Content-Type': 'application/json',
                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw) if raw else None
        except ValueError:
            return exc.code, raw.decode(errors='replace')


class ServerProcess:
    def __init__(self, base_dir, connection=None, api_workers=1, debug=False,
                 extra_conf='', enable_rpc=False, env=None):
        self.base_dir = base_dir
        self.state_path = os.path.join(base_dir, 'state')
        self.conf_path = os.path.join(base_dir, 'netnode.conf')
        self.log_path = os.path.join(base_dir, 'server.log')
        self.connection = connection
        self.api_workers = api_workers
        self.debug = debug
        self.extra_conf = extra_conf
        self.enable_rpc = enable_rpc
        self.proc = None
        self.port = None
        self.env = dict(env or {})      # added to the environment (NOTIFY_SOCKET)

    @property
    def marker(self):
        """A string in the server's (and its workers') command line."""
        return self.conf_path

    @property
    def url(self):
        return f'http://127.0.0.1:{self.port}'

    def write_conf(self):
        os.makedirs(self.state_path, exist_ok=True)
        lines = ['[DEFAULT]', f'state_path = {self.state_path}',
                 'bind_host = 127.0.0.1', 'bind_port = 0',
                 f'api_workers = {self.api_workers}',
                 f'enable_rpc = {str(self.enable_rpc).lower()}',
                 f'host = api-test-{uuid.uuid4().hex[:8]}',
                 f'debug = {str(self.debug).lower()}', f'log_file = {self.log_path}',
                 self.extra_conf, '[database]']
        if self.connection:
            lines.append(f'connection = {self.connection}')
        with open(self.conf_path, 'w') as f:
            f.write('\n'.join(lines) + '\n')

    def start(self, timeout=30.0):
        self.write_conf()
        self.proc = subprocess.Popen(
            [SERVER_BIN, '--config-file', self.conf_path],
            stdout=subprocess.DEVNULL, stderr=open(self.log_path + '.stderr', 'wb'),
            cwd=REPO, env={**os.environ, **self.env})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f'netnode-server exited with {self.proc.returncode}: '
                                   f'{self.tail()}')
            if self.port is None:
                match = _LISTEN_RE.search(self._read(self.log_path))
                if match:
                    self.port = int(match.group(1))
            if self.port is not None and self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f'netnode-server did not answer within {timeout} s: '
                           f'{self.tail()}')

    def _answers(self):
        try:
            with urllib.request.urlopen(self.url + '/', timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    @staticmethod
    def _read(path):
        try:
            with open(path, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def tail(self, n=30):
        text = self._read(self.log_path) + self._read(self.log_path + '.stderr')
        return '\n'.join(text.splitlines()[-n:])

    def stop(self, timeout=20.0):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    # --- a tiny JSON client --------------------------------------------------------
    def call(self, method, path, body=None, headers=None):
        """(status, parsed body or None)."""
        return json_call(self.url + path, method, body, headers)

    def cli(self, *args):
        """Run the ``netnode`` CLI against this server: (returncode, stdout, stderr)."""
        res = subprocess.run([CLI_BIN, '--url', self.url, *args], capture_output=True,
                             text=True, timeout=60)
        return res.returncode, res.stdout, res.stderr
