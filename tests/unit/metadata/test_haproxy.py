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


# -- [metadata_rate_limiting] (Neutron's options and haproxy rules) ---------------------

def rate_conf(**overrides):
    from agent.conf import service
    conf = service.make_conf([], groups=service.DHCP_AGENT_GROUPS)
    for name, value in overrides.items():
        conf.set_override(name, value, group='metadata_rate_limiting')
    return conf


def test_rate_limit_is_off_by_default_and_with_both_families():
    assert haproxy.RateLimit.from_conf(rate_conf()) is None
    assert haproxy.RateLimit.from_conf(
        rate_conf(rate_limit_enabled=True, ip_versions=[4, 6])) is None
    assert 'rate_limiter' not in router_config()


def test_rate_limit_renders_neutrons_stick_tables_and_429_rules():
    limit = haproxy.RateLimit.from_conf(rate_conf(
        rate_limit_enabled=True, base_window_duration=60, base_query_rate_limit=30,
        burst_window_duration=5, burst_query_rate_limit=8))
    assert limit == haproxy.RateLimit(60, 30, 5, 8, 4)
    text = haproxy.render_haproxy_config(
        ROUTER, 'router', '::', 9697, f'{STATE}/metadata_proxy',
        haproxy.pid_file_path(STATE, ROUTER), 'root', 'root', rate_limit=limit)
    assert ('backend base_rate_limiter\n    stick-table type ip size 10k expire 60s '
            'store http_req_rate(60s)\n') in text
    assert ('backend burst_rate_limiter\n    stick-table type ip size 10k expire 60s '
            'store http_req_rate(5s)\n') in text
    listener = text[text.index('listen listener'):]
    rules = [line.strip() for line in listener.splitlines() if 'rate_limiter' in line]
    # keyed by the address haproxy saw (src), never by a header a VM can send
    assert rules == [
        'http-request track-sc0 src table base_rate_limiter',
        'http-request track-sc1 src table burst_rate_limiter',
        'http-request deny deny_status 429 if { src_http_req_rate(base_rate_limiter) gt 30 }',
        'http-request deny deny_status 429 if { src_http_req_rate(burst_rate_limiter) gt 8 }']
    # the limits apply before the request reaches the metadata socket
    assert listener.index('deny_status 429') < listener.index('server metadata')


def test_rate_limit_ipv6_table():
    limit = haproxy.RateLimit.from_conf(rate_conf(rate_limit_enabled=True, ip_versions=[6]))
    assert 'stick-table type ipv6 ' in limit.lines()[0][0]


# -- the user the proxies run as ---------------------------------------------------------

class ProxyConf:
    def __init__(self, user, group):
        self.metadata_proxy_user, self.metadata_proxy_group = user, group


def test_proxy_user_defaults_to_netnode_haproxy_and_empty_means_the_agents():
    from agent.conf import options
    defaults = {o.name: o.default for o in options.metadata_proxy_opts}
    assert defaults['metadata_proxy_user'] == defaults['metadata_proxy_group'] == \
        'netnode-haproxy'
    assert haproxy.proxy_user_and_group(ProxyConf('', '')) == \
        haproxy.effective_user_and_group()
    assert haproxy.proxy_user_and_group(ProxyConf('0', '0')) == ('root', 'root')


def test_a_missing_proxy_user_or_group_is_named():
    with pytest.raises(ValueError, match="metadata_proxy_user 'no-such-user' does not exist"):
        haproxy.proxy_user_and_group(ProxyConf('no-such-user', 'root'))
    with pytest.raises(ValueError, match="metadata_proxy_group 'no-such-grp' does not exist"):
        haproxy.proxy_user_and_group(ProxyConf('root', 'no-such-grp'))
