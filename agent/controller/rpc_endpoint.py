"""What every RPC endpoint of the controller shares: the method decorator and the
argument reader.

:mod:`agent.controller.rpc_server` (Neutron's endpoints) and
:mod:`agent.controller.metadata_rpc` both import it; neither imports the other's
helpers.
"""

from __future__ import annotations

import functools
import logging

import agent.rpc  # noqa: F401  (first: silences oslo's eventlet warning)
import oslo_messaging

from agent.controller.exceptions import NeutronError
from agent.rpc.codec import Fields, WireError

LOG = logging.getLogger(__name__)


def rpc_method(func):
    """Log malformed calls naming the field; send errors back without tracebacks."""
    expected = oslo_messaging.expected_exceptions(WireError, NeutronError)(func)

    @functools.wraps(func)
    def wrapper(self, context, **kwargs):
        try:
            return expected(self, context, **kwargs)
        except oslo_messaging.ExpectedException as e:
            error = e.exc_info[1]
            if isinstance(error, WireError):
                LOG.error('rejected %s call: %s', func.__name__, error)
            else:
                LOG.info('%s failed: %s', func.__name__, error)
            raise
    return wrapper


def call_args(method: str, kwargs: dict) -> Fields:
    """The call's keyword arguments, whose errors name the method and the field."""
    return Fields(f'{method} call', kwargs)
