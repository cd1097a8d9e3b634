import pytest

from agent.metadata import haproxy

GOLDEN = '/work/shared/reference/neutron-golden/haproxy-qrouter.conf'
ROUTER = '4d7648cf-ebbd-4567-b336-bf7f0af13042'
NET = '524952ab-eb76-4838-8490-3a60a5746dcb'
STATE = '<state_path>'


def router_config():
    return haproxy.render_haproxy_config(
        ROUTER, 'router', '::', 9697, f'{STATE}/metadata_proxy',
        haproxy.pid_file_path(STATE, ROUTER), 'root', 'root')


def without_untrusted(text):
    """Neutron's lines only: not our header scrubbing, nor our faster start."""
    extra = {'    ' + line for line in haproxy.UNTRUSTED_HEADERS}
    extra.add('    httpclient.ssl.verify none')
    return ''.join(l for l in text.splitlines(keepends=True) if l.rstrip('\n') not in extra)


def test_router_config_is_golden_plus_header_scrubbing():
    with open(GOLDEN) as f:
        golden = f.read()
    assert without_untrusted(router_config()) == golden


def test_untrusted_headers_are_deleted_before_ours_are_set():
    lines = [l.strip() for l in router_config().splitlines()]
    set_at = lines.index(f'http-request set-header X-Neutron-Router-ID {ROUTER}')
    for rule in haproxy.UNTRUSTED_HEADERS:
        assert lines.index(rule) < set_at
    assert 'http-request del-header X-Forwarded-For' in lines
    assert 'http-request del-header X-Neutron- -m beg' in lines
    assert 'http-request del-header X-Instance-ID -m beg' in lines
    assert 'option forwardfor' in lines


def test_network_config_for_isolated_metadata_with_v6():
    text = haproxy.render_haproxy_config(
        NET, 'network', '169.254.169.254', 80, '/s/metadata_proxy', '/s/p', 'nobody',
        'nogroup', bind_v6_interface='tap0123456789a')
    assert '    bind 169.254.169.254:80\n' in text
    assert '    bind [fe80::a9fe:a9fe]:80 interface tap0123456789a\n' in text
    assert text.endswith('    http-request del-header X-Neutron-Router-ID\n'
                         f'    http-request set-header X-Neutron-Network-ID {NET}\n')
    assert '    user        nobody\n    group       nogroup\n' in text
    assert f'log-tag     haproxy-metadata-proxy-{NET}' in text


@pytest.mark.parametrize('kwargs, match', [
    ({'uuid': '../../etc'}, 'not a valid UUID'),
    ({'kind': 'port'}, 'kind'),
    ({'user': 'root\n    stats'}, 'user'),
    ({'bind_port': 0}, 'port'),
])
def test_invalid_input_is_rejected(kwargs, match):
    args = dict(uuid=NET, kind='network', bind_address='169.254.169.254', bind_port=80,
                socket_path='/s/sock', pid_file='/s/pid', user='root', group='root')
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        haproxy.render_haproxy_config(**args)


def test_metadata_proxy_spec_layout():
    spec = haproxy.metadata_proxy_spec(ROUTER, 'router', f'qrouter-{ROUTER}', '/var/lib/nn',
                                       '0.0.0.0', 9697, 'root', 'root')
    cfg = f'/var/lib/nn/ns-metadata-proxy/{ROUTER}.conf'
    assert spec.service == 'haproxy' and spec.uuid == ROUTER
    assert spec.argv == ('haproxy', '-f', cfg)
    assert spec.pid_file == f'/var/lib/nn/external/pids/{ROUTER}.pid.haproxy'
    assert spec.config_files[0][0] == cfg
    content = spec.config_files[0][1]
    assert f'pidfile     {spec.pid_file}\n' in content
    assert 'server metadata /var/lib/nn/metadata_proxy\n' in content
    assert spec.config_mode == 0o640
