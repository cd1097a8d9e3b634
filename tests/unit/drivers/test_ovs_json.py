"""The OVSDB stream's JSON parser reads what python-ovs' own parser reads."""

import json

import ovs.json
import pytest

from agent.drivers import ovs_json
from agent.drivers.ovs_json import StreamParser

# ovsdb-server's answer to get_schema of _Server (Open vSwitch 3.x), as received.
SERVER_SCHEMA = (
    '{"id":1,"result":{"cksum":"3009684573 744","name":"_Server","version":"1.2.0",'
    '"tables":{"Database":{"columns":{"name":{"type":"string"},"model":{"type":{"key":'
    '{"type":"string","enum":["set",["clustered","relay","standalone"]]}}},"connected":'
    '{"type":"boolean"},"leader":{"type":"boolean"},"schema":{"type":{"min":0,"key":'
    '"string"}},"sid":{"type":{"min":0,"key":"uuid"}},"cid":{"type":{"min":0,"key":'
    '"uuid"}},"index":{"type":{"min":0,"key":"integer"}}}}}},"error":null}')
# Strings that hold what the scanner must not count: brackets, escaped quotes and
# backslashes, unicode escapes (a surrogate pair too), and numbers of each kind.
TRICKY = ('{"method":"update","params":[null,{"Interface":{"a}]":{"new":{"name":'
          '"x\\"]}","error":"C:\\\\tmp\\\\","options":["map",[["k{","v[\\\\\\""]]],'
          '"n":-1.5e3,"i":42,"b":true,"e":["set",[]],"u":"\\u00e9\\ud83d\\ude00 \u00e9"}}}}],'
          '"id":null}')


def ovs_parse(monkeypatch, text):
    """python-ovs' own parser's value (it needs itself as ovs.json.Parser)."""
    monkeypatch.setattr(ovs.json, 'Parser', ovs_json.OVS_PARSER)
    parser = object.__new__(ovs_json.OVS_PARSER)
    parser.__init__()
    assert parser.feed(text) == len(text)
    return parser.finish()


def fed(chunks, parser=None):
    """Feed ``chunks`` as python-ovs' JSON-RPC reader does; (value, text left)."""
    parser = parser or StreamParser()
    pending = ''
    for chunk in chunks:
        pending += chunk
        pending = pending[parser.feed(pending):]
        if parser.is_done():
            break
    return parser.finish(), pending


@pytest.mark.parametrize('text', [SERVER_SCHEMA, TRICKY])
def test_the_values_are_python_ovs_ones_wherever_the_text_is_cut(monkeypatch, text):
    expected = ovs_parse(monkeypatch, text)
    assert expected == json.loads(text) and isinstance(expected, dict)
    for cut in range(1, len(text)):
        assert fed([text[:cut], text[cut:]]) == (expected, ''), cut
    assert fed(list(text)) == (expected, '')             # a character at a time


def test_a_message_ends_where_its_value_ends_and_the_next_one_is_left():
    reply = '{"id":4,"result":{},"error":null}'
    assert fed([SERVER_SCHEMA + '  ' + reply]) == (json.loads(SERVER_SCHEMA), '  ' + reply)
    parser = StreamParser()
    assert parser.feed(' \n' + reply[:10]) == 12 and not parser.is_done()
    assert parser.feed(reply[10:] + '{"id"') == len(reply) - 10 and parser.is_done()
    assert parser.finish() == {'id': 4, 'result': {}, 'error': None}


def test_bad_input_gives_python_ovs_like_error_strings():
    assert fed(['{"id":1,"result":[1,2}'])[0].startswith('syntax error')
    assert fed(['{"id":1, "result": [1, 2']) == ('syntax error: unexpected end of input', '')
    assert StreamParser().finish() == 'syntax error: empty input stream'
    trailing = StreamParser(check_trailer=True)
    trailing.feed('[1] x')
    assert trailing.finish().startswith('syntax error: trailing garbage')


def test_a_top_level_scalar_is_all_of_the_text():
    parser = StreamParser(check_trailer=True)
    assert parser.feed(' 12') == 3 and parser.feed('34 ') == 3
    assert parser.finish() == 1234
    assert fed(['"ab', 'c"'], StreamParser()) == ('abc', '')


def test_installed_python_ovs_parses_with_it(monkeypatch):
    monkeypatch.setattr(ovs.json, 'Parser', ovs_json.OVS_PARSER)
    monkeypatch.setattr(ovs.json, 'PARSER', ovs.json.PARSER_PY)
    assert ovs_json.install() is True
    assert ovs.json.Parser is StreamParser
    assert ovs.json.from_string(TRICKY) == json.loads(TRICKY)
    monkeypatch.setattr(ovs.json, 'PARSER', ovs.json.PARSER_C)
    monkeypatch.setattr(ovs.json, 'Parser', ovs_json.OVS_PARSER)
    assert ovs_json.install() is False                    # its C parser is kept
    assert ovs.json.Parser is ovs_json.OVS_PARSER
