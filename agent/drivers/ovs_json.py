"""The OVSDB connection's JSON parser, on the standard library's C decoder.

python-ovs reads every JSON-RPC message from ovsdb-server through
``ovs.json.Parser``; without its C extension (``ovs._json``, built only against
libopenvswitch: the PyPI wheel has none) that is a lexer in Python, one call
per character.  An agent's first copy of the database is one message with
every port of the host: parsing it took ~1.6 s of CPU with ~1000 ports (py-spy,
DHCP agent restart with 1000 networks, 11 % of its samples), and every reconcile
of the restart waits for that copy before it looks up its port.

:class:`StreamParser` finds where a message ends with one regular expression
(strings, whose brackets do not count, and the brackets outside them), then
hands the whole text to :func:`json.loads`: same values, ~20x less CPU.
:func:`install` makes python-ovs use it when it has no C parser of its own.
A top-level scalar (never sent by ovsdb-server; ``ovs.json.from_string``
could parse one) is all of the text fed.
"""

from __future__ import annotations

import json
import re
from typing import Any

import ovs.json

# A whole string, an opening quote whose string goes on past the text, or a bracket.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|"|[\[\]{}]', re.DOTALL)
# The rest of a string begun earlier: up to its closing quote (the match ends there).
_STRING_TAIL = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_STRING_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)


def _ends_escaped(s: str, pos: int) -> bool:
    """Whether the string text from ``pos`` to the end of ``s`` (no closing quote)
    ends with a backslash that escapes the next text's first character."""
    body = _STRING_BODY.match(s, pos)
    return body is not None and body.end() < len(s)
_SPACE = ' \t\r\n'
_DEPTH = {'{': 1, '[': 1, '}': -1, ']': -1}
# python-ovs' own parser class.  After install() it no longer works: its methods
# look themselves up as ovs.json.Parser (name-mangled class attributes).
OVS_PARSER = ovs.json.Parser


class StreamParser:
    """``ovs.json.Parser``'s interface (feed, is_done, finish) for a stream of
    JSON texts: ``feed`` takes text up to the end of the first complete value
    and returns how much of it it took."""

    def __init__(self, check_trailer: bool = False) -> None:
        self.check_trailer = check_trailer
        self._parts: list[str] = []
        self._depth = 0
        self._in_string = False
        self._escaped = False       # the text so far ends inside a string with a backslash
        self._scalar = False        # a top-level scalar: all of the text is the value
        self._error: str | None = None
        self.done = False

    def feed(self, s: str) -> int:
        if self._scalar:
            self._parts.append(s)
            return len(s)
        if self.done:
            if self.check_trailer and s.strip(_SPACE):
                self._fail('trailing garbage at end of input')
            return 0
        pos = 0
        if not self._parts:
            pos = len(s) - len(s.lstrip(_SPACE))
            if pos == len(s):
                return pos
            if s[pos] not in '{[':
                self._scalar = True
                self._parts.append(s[pos:])
                return len(s)
        start, end = pos, self._scan(s, pos)
        self._parts.append(s[start:end])
        if self.done and self.check_trailer and s[end:].strip(_SPACE):
            self._fail('trailing garbage at end of input')
        return end

    def _scan(self, s: str, pos: int) -> int:
        """Where the value ends in ``s`` (its end), else ``len(s)`` with the state kept."""
        if self._in_string:
            if self._escaped:
                pos += 1                 # the escaped character
                self._escaped = False
                if pos > len(s):
                    self._escaped = True
                    return len(s)
            tail = _STRING_TAIL.match(s, pos)
            if tail is None:
                self._escaped = _ends_escaped(s, pos)
                return len(s)
            self._in_string = False
            pos = tail.end()
        depth = self._depth
        for token in _TOKEN.finditer(s, pos):
            text = token.group()
            if text == '"':              # a string that goes on in the next text
                self._in_string = True
                self._escaped = _ends_escaped(s, token.end())
                self._depth = depth
                return len(s)
            step = _DEPTH.get(text)
            if step is None:
                continue                 # a whole string
            depth += step
            if depth == 0:
                self._depth = 0
                self.done = True
                return token.end()
        self._depth = depth
        return len(s)

    def _fail(self, message: str) -> None:
        if self._error is None:
            self._error = f'syntax error: {message}'
        self.done = True

    def is_done(self) -> bool:
        return self.done

    def finish(self) -> Any:
        """The value, or the error as a string (as python-ovs' parser gives them)."""
        if self._error is not None:
            return self._error
        if not self._parts:
            return 'syntax error: empty input stream'
        if not self.done and not self._scalar:
            return 'syntax error: unexpected end of input'
        try:
            return json.loads(''.join(self._parts))
        except ValueError as exc:
            return f'syntax error: {exc}'


def install() -> bool:
    """Make python-ovs parse with :class:`StreamParser` unless it has its C
    parser; returns whether it does now."""
    if ovs.json.PARSER == ovs.json.PARSER_C:
        return False
    ovs.json.Parser = StreamParser      # looked up by ovs.jsonrpc at each message
    return True
