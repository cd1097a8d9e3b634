"""The shared metadata proxy's rewriting of a VM's request head (pure)."""

import pytest

from agent.metadata import http_rewrite as hr
from agent.metadata.shared_proxy import RateLimiter

RID = '4d7648cf-ebbd-4567-b336-bf7f0af13042'


def head(*lines, first=b'GET /latest/meta-data/ HTTP/1.1'):
    return b'\r\n'.join((first, *lines, b'', b''))


def headers_of(out):
    return [line for line in out.split(b'\r\n')[1:] if line]


def test_identity_headers_of_the_vm_are_dropped_and_ours_added():
    out, length = hr.rewrite(head(
        b'Host: 169.254.169.254', b'X-Forwarded-For: 10.0.0.99', b'forwarded: for=x',
        b'X-NEUTRON-Network-ID: 524952ab-eb76-4838-8490-3a60a5746dcb',
        b'x-neutron-router-id: 00000000-0000-0000-0000-000000000000',
        b'X-Instance-ID: a', b'X-Instance-ID-Signature: b', b'X-Tenant-ID: c',
        b'Connection: keep-alive', b'Keep-Alive: 5', b'Accept: */*'),
        'router', RID, '10.0.0.5')
    assert length == 0
    assert out.startswith(b'GET /latest/meta-data/ HTTP/1.1\r\n')
    assert headers_of(out) == [b'Host: 169.254.169.254', b'Accept: */*',
                               f'X-Neutron-Router-ID: {RID}'.encode(),
                               b'X-Forwarded-For: 10.0.0.5', b'Connection: close']
    assert out.endswith(b'\r\n\r\n')


@pytest.mark.parametrize('peer, seen', [('::ffff:10.1.2.3', '10.1.2.3'),
                                        ('fe80::1%qr-x', 'fe80::1'),
                                        ('2001:db8::5', '2001:db8::5')])
def test_source_address(peer, seen):
    out, _ = hr.rewrite(head(), 'network', RID, peer)
    assert headers_of(out)[0] == f'X-Neutron-Network-ID: {RID}'.encode()
    assert headers_of(out)[1] == f'X-Forwarded-For: {seen}'.encode()


def test_body_length_is_forwarded():
    _, length = hr.rewrite(head(b'Content-Length: 12', b'content-length: 12',
                                first=b'POST /openstack/2013-04-04/password HTTP/1.1'),
                           'router', RID, '10.0.0.5')
    assert length == 12


@pytest.mark.parametrize('raw, status', [
    (head(b'Transfer-Encoding: chunked'), 411),
    (head(b'Content-Length: 1', b'Content-Length: 2'), 400),
    (head(b'Content-Length: -1'), 400),
    (head(f'Content-Length: {hr.MAX_BODY + 1}'.encode()), 413),
    (head(b'X-Foo: a', b' X-Neutron-Router-ID: x'), 400),
    (head(b'X-Foo a'), 400),
    (head(b'Bad Name: a'), 400),
    (head(b'X-Foo: a\x00b'), 400),
    (head(first=b'GET / HTTP/2.0'), 400),
    (head(first=b'GET  / HTTP/1.1'), 400),
    (head(first=b'GET /a b HTTP/1.1'), 400),
    (b'GET / HTTP/1.1\r\nHost: x\r\n', 400),
])
def test_heads_read_differently_by_the_agent_are_refused(raw, status):
    with pytest.raises(hr.Refused) as err:
        hr.rewrite(raw, 'router', RID, '10.0.0.5')
    assert err.value.status == status


def test_local_response_is_complete():
    out = hr.local_response(429, 'slow down')
    top, _, body = out.partition(b'\r\n\r\n')
    assert top.startswith(b'HTTP/1.0 429 Too Many Requests\r\n')
    assert f'Content-Length: {len(body)}'.encode() in top
    assert b'Connection: close' in top


def test_rate_limiter_counts_per_source_in_both_windows():
    limiter = RateLimiter(10, 3, 2, 2, 4)
    assert [limiter.allow('10.0.0.1', t) for t in (0.0, 0.1)] == [True, True]
    assert not limiter.allow('10.0.0.1', 0.2)          # 3 in the 2 s burst window
    assert limiter.allow('10.0.0.2', 0.2)              # another source
    assert not limiter.allow('10.0.0.1', 5.0)          # 4 in the 10 s base window
    assert limiter.allow('10.0.0.1', 20.0)             # both windows passed
    assert limiter.allow('2001:db8::1', 0.3)           # the other family: not limited


def test_rate_limiter_forgets_the_oldest_sources_past_its_size():
    limiter = RateLimiter(10, 1, 10, 1, 4)
    limiter.SIZE = 2
    for ip in ('10.0.0.1', '10.0.0.2', '10.0.0.3'):
        limiter.allow(ip, 0.0)
    assert list(limiter.seen) == ['10.0.0.2', '10.0.0.3']


@pytest.mark.parametrize('text', ['1,2,3,4', '1,2,3,4,5', '0,1,1,1,4'])
def test_rate_limit_argument_is_checked(text):
    with pytest.raises(ValueError):
        RateLimiter.parse(text)
