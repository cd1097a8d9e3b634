"""The test bed pinger's log (tests/functional/helpers/testbed/pinger.py) read into
lost pings and outages, as literal tables; and its ICMP packets."""

import pytest

from tests.functional.helpers.testbed import pinger


def log_of(text, tmp_path, rate=10.0):
    path = tmp_path / 'ping.log'
    path.write_text(text)
    return pinger.read_log(str(path), rate)


def sends(n, start=100.0, rate=10.0):
    return ''.join(f'S {i} {start + i / rate:.6f}\n' for i in range(n))


def replies(seqs, start=100.0, rate=10.0):
    return ''.join(f'R {i} {start + i / rate + 0.002:.6f}\n' for i in seqs)


@pytest.mark.parametrize('answered, lost, outages', [
    (range(40), [], []),
    ([i for i in range(40) if not 10 <= i < 20], list(range(10, 20)), [(101.0, 102.0, 10)]),
    ([i for i in range(40) if i not in (5, 6, 20)], [5, 6, 20],
     [(100.5, 100.7, 2), (102.0, 102.1, 1)]),
])
def test_lost_pings_and_outages(tmp_path, answered, lost, outages):
    log = log_of(sends(40) + replies(answered), tmp_path)
    # The last second is not judged yet: its replies may be in flight.
    assert log.lost() == lost
    assert [(round(o.start, 3), round(o.end, 3), o.lost) for o in log.outages()] == outages
    assert log.lost_seconds() == pytest.approx(len(lost) / 10)


def test_requests_in_the_last_second_are_not_judged(tmp_path):
    log = log_of(sends(40) + replies(range(30)), tmp_path)
    assert log.lost() == []
    assert 28 in log.settled() and 31 not in log.settled()


def test_only_requests_after_a_time_count(tmp_path):
    log = log_of(sends(40) + replies(range(3, 40)), tmp_path)
    assert log.lost() == [0, 1, 2]
    assert log.lost(after=100.25) == []
    assert log.answered_after(103.0) == 10


def test_a_line_cut_by_the_kill_and_a_late_duplicate_are_ignored(tmp_path):
    log = log_of(sends(20) + replies(range(20)) + 'R 3 200.0\nS 2', tmp_path)
    assert log.received[3] == pytest.approx(100.302)
    assert log.lost() == []


def test_missing_log_is_empty(tmp_path):
    log = pinger.read_log(str(tmp_path / 'none'), 10.0)
    assert log.lost() == [] and log.outages() == []


def test_echo_request_checksums_and_a_reply_is_recognised():
    request = pinger.echo_request(0x1234, 7)
    assert pinger._checksum(request) == 0
    reply = bytes([0] * 1) + request[1:]
    ipv4 = bytes([0x45]) + bytes(19)
    assert pinger.parse_reply(ipv4 + reply, 0x1234) == 7
    assert pinger.parse_reply(ipv4 + reply, 0x1235) is None
    assert pinger.parse_reply(ipv4 + request, 0x1234) is None      # a request
    assert pinger.parse_reply(b'\x45', 0x1234) is None
