"""A small HTTP client of the v2.0 API (standard library only)."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_URL = 'http://127.0.0.1:9696'
_UUID = re.compile(r'^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?'
                   r'[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$')


class CommandError(Exception):
    """Something the user should read; the CLI prints it and exits non-zero."""


class ApiError(CommandError):
    def __init__(self, status, type_, message):
        super().__init__(message)
        self.status = status
        self.type = type_


def _error_from(status, raw: bytes) -> ApiError:
    try:
        doc = json.loads(raw)
        err = doc['NeutronError']
        return ApiError(status, err.get('type', ''), err.get('message') or str(err))
    except (ValueError, KeyError, TypeError):
        text = raw.decode(errors='replace').strip() or f'HTTP {status}'
        return ApiError(status, '', text)


class Client:
    def __init__(self, url=DEFAULT_URL, timeout=60.0, project_id=None, debug=None):
        self.base = url.rstrip('/')
        if not self.base.endswith('/v2.0'):
            self.base += '/v2.0'
        self.timeout = timeout
        self.project_id = project_id
        self.debug = debug          # a stream for REQ:/RESP: lines (--debug), or None

    # --- transport -------------------------------------------------------------
    def request(self, method, path, body=None, params=None):
        url = self.base + path
        if params:
            url += '?' + urllib.parse.urlencode(params, doseq=True)
        data = json.dumps(body).encode() if body is not None else None
        headers = {'Accept': 'application/json'}
        if data is not None:
            headers['Content-Type'] = 'application/json'
        if self.project_id:
            headers['X-Project-Id'] = self.project_id
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        self._trace('REQ', f'{method} {url}', headers, data)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                self._trace('RESP', f'[{resp.status}]', dict(resp.headers), raw)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            self._trace('RESP', f'[{exc.code}]', dict(exc.headers), raw)
            raise _error_from(exc.code, raw) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ConnectionRefusedError):
                raise CommandError(f'Unable to connect to {self.base}: connection '
                                   f'refused (is netnode-server running? set --url '
                                   f'or NETNODE_URL)') from None
            raise CommandError(f'Unable to connect to {self.base}: {reason}') from None
        except (socket.timeout, TimeoutError):
            raise CommandError(f'{method} {url} timed out after {self.timeout:g} s') \
                from None
        except ConnectionError as exc:
            raise CommandError(f'Connection to {self.base} failed: {exc}') from None
        return json.loads(raw) if raw else None

    def _trace(self, kind, line, headers, body):
        if self.debug is None:
            return
        shown = ' '.join(f'-H "{k}: {v}"' for k, v in sorted(headers.items()))
        text = body.decode(errors='replace') if body else ''
        print(f'{kind}: {line} {shown} {text}'.rstrip(), file=self.debug)

    # --- resources ---------------------------------------------------------------
    def list(self, plural, **filters):
        params = [(k, v) for k, vals in filters.items() if vals is not None
                  for v in (vals if isinstance(vals, (list, tuple)) else [vals])]
        return self.request('GET', f'/{plural}', params=params)[plural]

    def show(self, singular, plural, id_):
        return self.request('GET', f'/{plural}/{urllib.parse.quote(id_)}')[singular]

    def create(self, singular, plural, attrs):
        return self.request('POST', f'/{plural}', {singular: attrs})[singular]

    def update(self, singular, plural, id_, attrs):
        return self.request('PUT', f'/{plural}/{urllib.parse.quote(id_)}',
                            {singular: attrs})[singular]

    def delete(self, plural, id_):
        self.request('DELETE', f'/{plural}/{urllib.parse.quote(id_)}')

    def find_id(self, singular, plural, name_or_id, by_name=True):
        """The id of the resource called or identified by ``name_or_id``."""
        if _UUID.match(name_or_id):
            found = self.list(plural, id=name_or_id, fields='id')
            if found:
                return found[0]['id']
        if by_name:
            found = self.list(plural, name=name_or_id, fields='id')
            if len(found) > 1:
                raise CommandError(f"Multiple {singular} matches found for name "
                                   f"'{name_or_id}', use an ID to be more specific.")
            if found:
                return found[0]['id']
        raise CommandError(f"Unable to find {singular} with name or id '{name_or_id}'")

    def find(self, singular, plural, name_or_id, by_name=True):
        return self.show(singular, plural,
                         self.find_id(singular, plural, name_or_id, by_name))
