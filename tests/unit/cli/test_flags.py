"""``netnode --version`` and ``--debug`` (issue 14), the latter against a real
HTTP server on loopback standing in for the controller."""

import http.server
import io
import json
import threading

import pytest

from agent import version
from agent.cli import main as cli


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):        # noqa: N802
        body = json.dumps({'networks': [{'id': 'n1', 'name': 'net1'}]}).encode()
        status = 200 if self.path.startswith('/v2.0/networks') else 404
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def url():
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.run(['--version'])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f'netnode {version.version_string()}'


def test_debug_prints_requests_and_responses_on_stderr(url):
    code, out, err = run('--url', url, '--debug', 'net-list', '-f', 'json')
    assert code == 0 and json.loads(out)[0]['id'] == 'n1'
    lines = err.splitlines()
    assert lines[0].startswith(f'REQ: GET {url}/v2.0/networks')
    assert '-H "Accept: application/json"' in lines[0]
    assert lines[1].startswith('RESP: [200]') and '"net1"' in lines[1]


def test_without_debug_stderr_stays_quiet(url):
    code, _, err = run('--url', url, 'net-list')
    assert code == 0 and err == ''
