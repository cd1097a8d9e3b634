"""The compact OVSDB replica, its client (against a fake ovsdb-server on a unix
socket) and the operations the OVS driver and local VLANs write."""

import json
import socket
import threading
import time

import pytest

from agent.drivers import ovsdb_ops as ops
from agent.drivers.local_vlan import plan_allocation
from agent.drivers.ovsdb_client import (
    MAP, MEMBERS, OPTIONAL, SET, OvsdbClient, Replica, TransactionError, address, decode,
    transaction_error)
from agent.drivers.state import DEAD_VLAN, DriverError, PortSpec, key_for

P1, I1, B1 = ('11111111-1111-1111-1111-11111111111%d' % i for i in range(3))
ROOT = '22222222-2222-2222-2222-222222222222'


def initial():
    return {
        'Open_vSwitch': {ROOT: {'initial': {'bridges': ['uuid', B1], 'cur_cfg': 3,
                                        'next_cfg': 3}}},
        'Bridge': {B1: {'initial': {'name': 'br-int', 'ports': ['set', [['uuid', P1]]],
                                'datapath_type': 'netdev',
                                'external_ids': ['map', [[key_for('n1'), '1']]]}}},
        'Port': {P1: {'initial': {'name': 'tap1', 'interfaces': ['uuid', I1], 'tag': 5}}},
        'Interface': {I1: {'initial': {'name': 'tap1', 'type': 'internal', 'ofport': 7,
                                   'error': ['set', []],
                                   'external_ids': ['map', [['iface-id', 'p1']]]}}},
    }


def test_values_decode_by_their_column_kind():
    assert decode(OPTIONAL, ['set', []]) is None
    assert decode(OPTIONAL, 5) == 5
    assert decode(SET, ['uuid', P1]) == (P1,)
    assert decode(SET, ['set', [['uuid', P1], ['uuid', I1]]]) == (P1, I1)
    assert decode(MEMBERS, ['uuid', P1]) == frozenset({P1})
    assert decode(MAP, ['map', [['a', 'b']]]) == {'a': 'b'}


def test_the_replica_shares_strings_and_replaces_rows_on_update():
    replica = Replica()
    replica.apply(initial())
    port = replica.by_name['Port']['tap1']
    iface = replica.rows['Interface'][port.interfaces[0]]
    assert iface.uuid is port.interfaces[0]                 # one string, interned
    assert (port.tag, iface.ofport, iface.error, replica.root().cur_cfg) == (5, 7, None, 3)
    assert replica.by_name['Bridge']['br-int'].ports == {P1}
    replica.apply({'Port': {P1: {'modify': {'name': 'tap9', 'tag': ['set', []]}}}})
    renamed = replica.by_name['Port']['tap9']
    assert renamed is not port and port.tag == 5            # the old row is left as it was
    assert renamed.tag is None and renamed.interfaces == (I1,)   # left out: kept
    assert 'tap1' not in replica.by_name['Port']
    replica.apply({'Port': {P1: {'delete': None}}})
    assert replica.rows['Port'] == {} and replica.by_name['Port'] == {}


def test_a_modify_gives_differences_of_sets_and_maps_and_new_values_of_the_others():
    replica = Replica()
    replica.apply(initial())
    p2, p3 = 'p2' * 18, 'p3' * 18
    replica.apply({'Bridge': {B1: {'modify': {
        'ports': ['set', [['uuid', P1], ['uuid', p2], ['uuid', p3]]],     # toggled
        'external_ids': ['map', [[key_for('n1'), '1'], ['a', 'b']]]}}}})  # removed, added
    bridge = replica.by_name['Bridge']['br-int']
    assert bridge.ports == {p2, p3} and bridge.external_ids == {'a': 'b'}
    replica.apply({'Bridge': {B1: {'modify': {'external_ids': ['map', [['a', 'c']]],
                                              'ports': ['uuid', p2]}}}})
    bridge = replica.by_name['Bridge']['br-int']
    assert bridge.ports == {p3} and bridge.external_ids == {'a': 'c'}
    replica.apply({'Interface': {I1: {'modify': {'ofport': 8, 'error': 'gone'}}},
                   'Port': {P1: {'modify': {'interfaces': ['set', [['uuid', I1], ['uuid', p2]]]}}}})
    assert replica.rows['Port'][P1].interfaces == (p2,)
    iface = replica.rows['Interface'][I1]
    assert (iface.ofport, iface.error, iface.name) == (8, 'gone', 'tap1')


def test_a_row_left_out_columns_has_their_defaults():
    replica = Replica()
    replica.apply({'Interface': {I1: {'insert': {'name': 'x'}}}})
    iface = replica.rows['Interface'][I1]
    assert (iface.type, iface.external_ids, iface.ofport) == ('', {}, None)


def test_addresses_and_errors():
    assert address('unix:/run/db.sock') == (socket.AF_UNIX, '/run/db.sock')
    assert address('tcp:127.0.0.1:6640') == (socket.AF_INET, ('127.0.0.1', 6640))
    assert address('tcp:[::1]:6640') == (socket.AF_INET6, ('::1', 6640))
    with pytest.raises(DriverError):
        address('ssl:1.2.3.4:6640')
    error = transaction_error({'result': [{}, {'error': 'timed out', 'details': 'x'}],
                               'error': None, 'id': 1})
    assert (error.error, error.op, str(error)) == ('timed out', 1, 'timed out: x')
    assert transaction_error({'result': [{}, {'count': 1}], 'error': None}) is None


def test_ports_go_in_with_their_iface_id_in_one_transaction():
    specs = [PortSpec('tap1', 'id1', 'fa:16:3e:00:00:01', 3),
             PortSpec('tap2', 'id2', 'fa:16:3e:00:00:02', DEAD_VLAN)]
    txn = ops.add_internal_ports(B1, specs)
    assert [(o['op'], o['table']) for o in txn] == [('insert', 'Interface'), ('insert', 'Port')] \
        * 2 + [('mutate', 'Bridge')]
    iface, port = txn[2]['row'], txn[3]['row']
    assert dict(iface['external_ids'][1])['iface-id'] == 'id2' and iface['type'] == 'internal'
    assert (port['tag'], port['vlan_mode'], port['trunks']) == (4095, 'trunk', ['set', [4095]])
    assert port['interfaces'] == ['named-uuid', 'i1'] and txn[2]['uuid-name'] == 'i1'
    assert txn[-1]['where'] == [['_uuid', '==', ['uuid', B1]]]
    assert txn[-1]['mutations'] == [['ports', 'insert', ['set', [['named-uuid', 'p0'],
                                                                ['named-uuid', 'p1']]]]]
    assert txn[1]['row']['vlan_mode'] == ['set', []]
    assert ops.set_port('tap1', None)['row'] == {'tag': ['set', []], 'vlan_mode': ['set', []],
                                                 'trunks': ['set', []]}


def test_an_allocation_takes_the_lowest_free_tags_and_verifies_the_map():
    ids = {key_for('a'): '1', key_for('b'): '3', 'other': 'x'}
    assert plan_allocation(ids, ['b', 'c', 'd']) == (
        {'b': 3, 'c': 2, 'd': 4}, {key_for('c'): '2', key_for('d'): '4'})
    wait, mutate = ops.set_bridge_keys('br-int', ids, {key_for('c'): '2'})
    assert wait['op'] == 'wait' and wait['rows'] == [{'external_ids': ops.omap(ids)}]
    assert mutate['mutations'] == [['external_ids', 'insert', ['map', [[key_for('c'), '2']]]]]


class FakeServer:
    """A unix socket speaking enough OVSDB: the monitor's first copy, transactions
    answered by ``on_transact`` (whose messages go before the reply), echoes."""

    def __init__(self, path):
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(path)
        self.listener.listen(4)
        self.rows = initial()
        self.conns = []
        self.echo_replies = []
        self.on_transact = lambda params: ([], [{}] * (len(params) - 1))
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn):
        decoder, buf = json.JSONDecoder(), ''
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data.decode()
            while buf.strip():
                try:
                    msg, end = decoder.raw_decode(buf.lstrip())
                except ValueError:
                    break
                buf = buf.lstrip()[end:]
                self._answer(conn, msg)

    def _answer(self, conn, msg):
        if msg.get('method') == 'monitor_cond':
            self.send(conn, {'id': msg['id'], 'result': self.rows, 'error': None})
            self.send(conn, {'method': 'echo', 'params': ['ping'], 'id': 'e1'})
        elif msg.get('method') == 'transact':
            answer = self.on_transact(msg['params'])
            if answer is None:                   # no reply
                return
            before, result = answer
            for update in before:
                self.send(conn, {'method': 'update2', 'params': [None, update], 'id': None})
            self.send(conn, {'id': msg['id'], 'result': result, 'error': None})
        elif msg.get('method') == 'echo':
            self.send(conn, {'id': msg['id'], 'result': msg['params'], 'error': None})
        elif msg.get('id') == 'e1':
            self.echo_replies.append(msg)

    @staticmethod
    def send(conn, msg):
        text = json.dumps(msg)
        conn.sendall(text[:7].encode())          # split: the client must join the parts
        conn.sendall(text[7:].encode())


@pytest.fixture
def server(tmp_path):
    fake = FakeServer(str(tmp_path / 'db.sock'))
    yield fake
    fake.listener.close()
    for conn in fake.conns:
        conn.close()


def wait_until(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_the_client_copies_answers_echoes_and_sees_its_change_before_the_reply(server):
    client = OvsdbClient(f'unix:{server.path}', timeout=5).start()
    try:
        assert client.replica.by_name['Port']['tap1'].tag == 5
        wait_until(lambda: server.echo_replies)
        assert server.echo_replies[0]['result'] == ['ping']
        server.on_transact = lambda params: (
            [{'Port': {P1: {'modify': {'tag': 9}}}}], [{'count': 1}])
        assert client.transact([ops.set_port('tap1', 9)]) == [{'count': 1}]
        assert client.replica.by_name['Port']['tap1'].tag == 9
        server.on_transact = lambda params: ([], [{}, {'error': 'timed out'}])
        with pytest.raises(TransactionError) as caught:
            client.transact([{}, {}])
        assert caught.value.op == 1
    finally:
        client.close()


def test_a_lost_connection_fails_the_waiting_and_is_made_again_with_a_new_copy(server):
    client = OvsdbClient(f'unix:{server.path}', timeout=5).start()
    try:
        old = client.replica
        server.rows['Port'][P1]['initial']['tag'] = 6
        server.on_transact = lambda params: server.conns[-1].shutdown(socket.SHUT_RDWR)
        with pytest.raises(DriverError):
            client.transact([ops.set_port('tap1', 6)], timeout=5)
        wait_until(lambda: client.connects == 2)
        assert client.replica is not old and client.replica.by_name['Port']['tap1'].tag == 6
    finally:
        client.close()


def test_no_server_is_a_driver_error(tmp_path):
    with pytest.raises(DriverError, match='cannot connect'):
        OvsdbClient(f'unix:{tmp_path}/none.sock', timeout=1).start()


def test_messages_whole_or_split_anywhere_in_the_reads_are_all_handled():
    messages = [{'id': i, 'result': [{'s': 'a "}]" \\\\ é' * i}], 'error': None}
                for i in range(6)]
    stream = ('\n'.join(json.dumps(m) for m in messages) + '\n').encode()
    for cut in range(1, 90, 7):
        reads = [stream[:cut], stream[cut:cut + 3], stream[cut + 3:]]
        client = OvsdbClient('unix:/none')
        seen = []
        client._dispatch = seen.append
        sock = FakeSocket(reads, client)
        client._read(sock)
        assert seen == messages, cut


class FakeSocket:
    def __init__(self, reads, client):
        self.reads, self.client = list(reads), client

    def recv(self, size):
        if not self.reads:
            self.client._stopped = True
            return b'x'                 # never parsed: the loop ends first
        return self.reads.pop(0)


def test_a_message_that_is_not_an_object_is_a_driver_error():
    client = OvsdbClient('unix:/none')
    with pytest.raises(DriverError, match='not a JSON-RPC message'):
        client._read(FakeSocket([b'[1, 2]'], client))


def test_a_wait_for_the_replica_wakes_at_its_update_and_else_times_out(server):
    client = OvsdbClient(f'unix:{server.path}', timeout=5).start()
    try:
        def retagged():
            return client.replica.by_name['Port']['tap1'].tag == 9
        assert client.wait_for(retagged, 0.05) is False
        update = {'method': 'update2', 'id': None,
                  'params': [None, {'Port': {P1: {'modify': {'tag': 9}}}}]}
        threading.Timer(0.05, server.send, args=(server.conns[-1], update)).start()
        assert client.wait_for(retagged, 5) is True
    finally:
        client.close()
