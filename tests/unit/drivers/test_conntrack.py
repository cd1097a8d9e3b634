import pytest

from agent.drivers.conntrack import _count, delete_commands


@pytest.mark.parametrize('ip, family', [('172.24.4.162', 'ipv4'), ('2001:db8::1', 'ipv6')])
def test_delete_commands(ip, family):
    assert delete_commands(ip) == [
        ['conntrack', '-D', '-f', family, opt, ip]
        for opt in ('-d', '-s', '--reply-src', '--reply-dst')]


@pytest.mark.parametrize('stderr, count', [
    ('conntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted.\n', 2),
    ('conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n', 0),
    ('', 0),
])
def test_count(stderr, count):
    assert _count(stderr) == count


def test_rejects_non_addresses():
    with pytest.raises(ValueError):
        delete_commands('172.24.4.162; rm -rf /')
