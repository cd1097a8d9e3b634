"""Names of namespaces, devices and files, derived only from validated ids.

An id becomes part of a path, a namespace name or an interface name only after
:func:`validate_uuid` accepted it, so nothing a message carries can escape the
state directory or collide with another resource's name.
"""

import functools
import re
import uuid

DEV_NAME_LEN = 14          # IFNAMSIZ - 1 (LINUX_DEV_LEN in Neutron)
DEVICE_ID_CHARS = 11       # of the port id in tap/qr-/qg- names (the shortest prefix)
DHCP_NS_PREFIX = 'qdhcp-'
ROUTER_NS_PREFIX = 'qrouter-'
TAP_PREFIX = 'tap'
INTERNAL_PREFIX = 'qr-'
GATEWAY_PREFIX = 'qg-'
HA_PREFIX = 'ha-'

_UUID_RE = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')


class InvalidId(ValueError):
    """An id that is not a canonical, lower-case UUID."""

    def __init__(self, what, value):
        super().__init__(f'{what}: {value!r} is not a valid UUID')
        self.what = what
        self.value = value


def is_uuid(value):
    return isinstance(value, str) and bool(_UUID_RE.match(value))


def validate_uuid(value, what='id'):
    """Return ``value`` if it is a canonical lower-case UUID, else raise InvalidId."""
    if not is_uuid(value):
        raise InvalidId(what, value)
    return value


def new_uuid():
    return str(uuid.uuid4())


def device_name(prefix, port_id):
    """``prefix`` + the start of the port id, 14 characters at most (tap/qr-/qg-)."""
    return (prefix + validate_uuid(port_id, 'port id'))[:DEV_NAME_LEN]


def tap_name(port_id):
    return device_name(TAP_PREFIX, port_id)


def internal_device_name(port_id):
    return device_name(INTERNAL_PREFIX, port_id)


def gateway_device_name(port_id):
    return device_name(GATEWAY_PREFIX, port_id)


def ha_device_name(port_id):
    """``ha-<port id prefix>``: an HA router's VRRP device."""
    return device_name(HA_PREFIX, port_id)


def dhcp_namespace(network_id):
    return DHCP_NS_PREFIX + validate_uuid(network_id, 'network id')


def router_namespace(router_id):
    return ROUTER_NS_PREFIX + validate_uuid(router_id, 'router id')


def id_from_namespace(name, prefix):
    """The UUID a namespace of ours is named after, or None if it is not ours."""
    if not name.startswith(prefix):
        return None
    rest = name[len(prefix):]
    return rest if is_uuid(rest) else None


def dhcp_port_device_id(host, network_id):
    """Neutron's device_id for a DHCP port: dhcp<uuid5(DNS, short host)>-<network>."""
    return 'dhcp%s-%s' % (_host_uuid(host.split('.')[0]),
                          validate_uuid(network_id, 'network id'))


@functools.lru_cache(maxsize=8)
def _host_uuid(short_host):
    """uuid5(DNS, short host): one host per agent, a SHA-1 once."""
    return uuid.uuid5(uuid.NAMESPACE_DNS, short_host)
