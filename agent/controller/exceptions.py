"""Errors of the controller, named and coded as Neutron's.

The REST layer renders any :class:`NeutronError` as
``{"NeutronError": {"type": err.type, "message": str(err), "detail": ""}}`` with
HTTP status ``err.status``.  ``type`` defaults to the class name.
"""

from __future__ import annotations


class NeutronError(Exception):
    status = 500
    type = 'NeutronError'

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if 'type' not in cls.__dict__:
            cls.type = cls.__name__

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message


# 400 -----------------------------------------------------------------------
class BadRequest(NeutronError):
    status = 400


class InvalidInput(BadRequest):
    """Bad value of one field: the message names the object and the field."""

    def __init__(self, message: str):
        if not message.startswith('Invalid input'):
            message = f'Invalid input for operation: {message}'
        super().__init__(message)


class InvalidAllocationPool(BadRequest):
    pass


class OutOfBoundsAllocationPool(BadRequest):
    pass


class InvalidSubnetRequest(BadRequest):
    type = 'BadRequest'


class InvalidIpForSubnet(BadRequest):
    pass


class InvalidIpForNetwork(BadRequest):
    pass


class IpAddressAlreadyAllocated(BadRequest):
    pass


class ExternalNetworkRequired(BadRequest):
    """Not Neutron's name for it, which is a BadRequest; kept as one."""
    type = 'BadRequest'


class RouterInterfaceOverlap(BadRequest):
    type = 'BadRequest'


class InvalidRoutes(BadRequest):
    pass


class SubnetOverlap(InvalidInput):
    type = 'InvalidInput'


class PortNotUsableByRouter(BadRequest):
    type = 'BadRequest'


# 404 -----------------------------------------------------------------------
class NotFound(NeutronError):
    status = 404


class NetworkNotFound(NotFound):
    pass


class SubnetNotFound(NotFound):
    pass


class PortNotFound(NotFound):
    pass


class RouterNotFound(NotFound):
    pass


class FloatingIPNotFound(NotFound):
    pass


class AgentNotFound(NotFound):
    pass


class RouterInterfaceNotFound(NotFound):
    pass


class RouterInterfaceNotFoundForSubnet(NotFound):
    pass


class ExternalGatewayForFloatingIPNotFound(NotFound):
    pass


# 409 -----------------------------------------------------------------------
class Conflict(NeutronError):
    status = 409


class IpAddressGenerationFailure(Conflict):
    pass


class IpAddressInUse(Conflict):
    pass


class OverlappingAllocationPools(Conflict):
    pass


class GatewayConflictWithAllocationPools(Conflict):
    pass


class GatewayIpInUse(Conflict):
    pass


class MacAddressInUse(Conflict):
    pass


class MacAddressGenerationFailure(Conflict):
    pass


class NetworkInUse(Conflict):
    pass


class SubnetInUse(Conflict):
    pass


class RouterInUse(Conflict):
    pass


class PortInUse(Conflict):
    pass


class DeviceNameInUse(Conflict):
    """Device names are a prefix and the first 11 characters of the port id."""


class RouterInterfaceInUseByRoute(Conflict):
    pass


class RouterInterfaceInUseByFloatingIP(Conflict):
    pass


class FloatingIPPortAlreadyAssociated(Conflict):
    pass


class RouterExternalGatewayInUseByFloatingIp(Conflict):
    pass


class VlanIdInUse(Conflict):
    pass


class FlatNetworkInUse(Conflict):
    pass


class NetworkIsNodeLocal(Conflict):
    """A network without a physical network asked on a second node."""


class NoVRIDAvailable(Conflict):
    pass


class AgentAlreadyHosting(Conflict):
    type = 'Conflict'


# 403 / 503 -------------------------------------------------------------------
class NotAuthorized(NeutronError):
    status = 403
    type = 'HTTPForbidden'


class NoNetworkAvailable(NeutronError):
    """No free VLAN for a new network."""
    status = 503


class ServiceUnavailable(NeutronError):
    """A transaction kept losing races after ``[database] max_retries`` retries."""
    status = 503
