"""Moved to :mod:`tests.functional.helpers.bus`; kept so that its importers
(tests/functional/dhcp/test_agent_e2e.py) keep working."""

from tests.functional.helpers.bus import (  # noqa: F401
    BROKER, add_vhost, bus_conf, delete_vhost, private_vhost, vhost_url)
