"""A multi-node test bed on one machine (see :mod:`.bed`): nodes with their own
mount, network and UTS namespaces, private Open vSwitch and agents; a controller
node with a private RabbitMQ; a fabric namespace joining them."""

from tests.functional.helpers.testbed.bed import TestBed  # noqa: F401
