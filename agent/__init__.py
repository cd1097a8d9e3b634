"""netnode: DHCP, L3 and metadata agents for cloud network nodes, and their controller.

Nothing here uses eventlet.  Importing oslo.messaging imports oslo.service, which
would pick its eventlet backend (and print eventlet's deprecation warning) unless
told otherwise, so the threading backend is selected here, before any oslo import
of ours, as Neutron does in its own package ``__init__``.
"""

import warnings

warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
warnings.filterwarnings('ignore', module='oslo_service.backend._eventlet')
warnings.filterwarnings('ignore', module='oslo_utils.eventletutils')
warnings.filterwarnings('ignore', message='.*eventlet_backdoor')

from oslo_service import backend as _service_backend  # noqa: E402

_service_backend.register_backend_default_hook(
    lambda: _service_backend.BackendType.THREADING)

__version__ = "0.1.0"
