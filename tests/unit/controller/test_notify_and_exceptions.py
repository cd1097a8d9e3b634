from agent.controller import exceptions as exc
from agent.controller.notify import Outbox, RecordingNotifier


def test_exception_types_and_status():
    assert (exc.NetworkNotFound.status, exc.NetworkNotFound.type) == (404, 'NetworkNotFound')
    assert (exc.IpAddressGenerationFailure.status,
            exc.IpAddressGenerationFailure.type) == (409, 'IpAddressGenerationFailure')
    assert (exc.RouterInUse.status, exc.InvalidInput.status) == (409, 400)
    assert exc.ExternalGatewayForFloatingIPNotFound.status == 404
    assert str(exc.InvalidInput('x')) == 'Invalid input for operation: x'
    assert exc.SubnetOverlap.type == 'InvalidInput'


def test_outbox_delivers_in_order_and_survives_failures():
    box = Outbox()
    box.cast_dhcp('h', 'network_create_end', {'network': {'id': 'n'}, 'priority': 0})
    box.cast_l3(None, 'router_deleted', router_id='r')
    box.call_l3('h', 'router_added_to_agent', payload=['r'])
    target = RecordingNotifier()
    box.deliver(target)
    assert target.methods() == ['network_create_end', 'router_deleted', 'router_added_to_agent']
    assert target.sent[1].kwargs == {'router_id': 'r'}

    class Broken(RecordingNotifier):
        def cast_dhcp(self, host, method, payload):
            raise RuntimeError('bus down')
    broken = Broken()
    box.deliver(broken)
    assert broken.methods() == ['router_deleted', 'router_added_to_agent']
