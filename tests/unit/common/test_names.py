import errno
import os
import stat

import pytest

from agent.common import fileutils
from agent.common import names

NET = '524952ab-eb76-4838-8490-3a60a5746dcb'
PORT = 'e9f30b29-bfda-4d5e-b6fc-d5be3e94d090'


def test_device_names_follow_neutron():
    assert names.tap_name(PORT) == 'tape9f30b29-bf'
    assert names.internal_device_name(PORT) == 'qr-e9f30b29-bf'
    assert names.gateway_device_name(PORT) == 'qg-e9f30b29-bf'
    assert names.dhcp_namespace(NET) == 'qdhcp-' + NET
    assert names.id_from_namespace('qdhcp-' + NET, 'qdhcp-') == NET
    assert names.id_from_namespace('qdhcp-../etc', 'qdhcp-') is None
    assert names.id_from_namespace('qrouter-' + NET, 'qdhcp-') is None


@pytest.mark.parametrize('bad', ['', '../../etc/passwd', NET.upper(), NET + 'x',
                                 None, 42, NET.replace('-', '')])
def test_ids_are_validated_before_becoming_names(bad):
    with pytest.raises(names.InvalidId) as err:
        names.dhcp_namespace(bad)
    assert 'network id' in str(err.value)


def test_dhcp_device_id_is_neutrons_form():
    # Neutron's documented example: host compute1.
    assert names.dhcp_port_device_id('compute1.example.org', NET) == (
        'dhcpe0130025-5ee5-5094-8d98-24d0a68981b3-' + NET)


def test_write_atomic_reports_change_and_sets_mode(tmp_path):
    path = str(tmp_path / 'host')
    assert fileutils.write_atomic(path, 'a\n', mode=0o640) is True
    assert fileutils.write_atomic(path, 'a\n', mode=0o640) is False
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert fileutils.write_atomic(path, 'b\n') is True
    assert fileutils.read_text(path) == 'b\n'
    assert [p for p in os.listdir(tmp_path) if p.startswith('.')] == []


def test_write_atomic_disk_full_keeps_old_file(tmp_path, monkeypatch):
    path = str(tmp_path / 'opts')
    fileutils.write_atomic(path, 'old')

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(fileutils.os, 'fsync', full)
    with pytest.raises(OSError) as err:
        fileutils.write_atomic(path, 'new')
    assert path in str(err.value) and err.value.errno == errno.ENOSPC
    assert fileutils.read_text(path) == 'old'
    assert sorted(os.listdir(tmp_path)) == ['opts']
