"""netnode: DHCP, L3 and metadata agents for cloud network nodes, and their controller.

Nothing here uses eventlet.  Importing oslo.messaging imports oslo.service, which
would pick its eventlet backend (and print eventlet's deprecation warning) unless
told otherwise, so the threading backend is selected here, before any oslo import
of ours, as Neutron does in its own package ``__init__``.

eventlet is installed (oslo.messaging requires it), and futurist, oslo.utils and
oslo.messaging import it, with dnspython, merely because it is there: about 20 MiB
of RSS in every process.  ``None`` in ``sys.modules`` makes those optional imports
fail with ImportError, and each library then takes its threading path.
PyYAML is kept out of the agent processes only, by their entry points
(:mod:`agent.cmd.lean_imports`): the controller's tests and tools import this
package beside libraries that read YAML (openstacksdk, cloud-init).

glibc gives every thread that allocates while another holds the main arena an
arena of its own, up to 8 per core; an agent's RPC executor, queue and netlink
threads then keep a dozen partly used arenas (~1 MiB RSS each).  Two are enough
for threads that mostly wait: set here, before any thread starts, unless
``MALLOC_ARENA_MAX`` in the environment already says otherwise.
"""

import ctypes
import os
import sys
import warnings

M_ARENA_MAX = -8    # mallopt() parameter, glibc's malloc.h
MALLOC_ARENAS = 2

sys.modules.setdefault('eventlet', None)  # type: ignore[arg-type]  # None: its import fails

if 'MALLOC_ARENA_MAX' not in os.environ:
    try:
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    except (OSError, AttributeError):   # not glibc: nothing to limit
        pass

warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
warnings.filterwarnings('ignore', module='oslo_service.backend._eventlet')
warnings.filterwarnings('ignore', module='oslo_utils.eventletutils')
warnings.filterwarnings('ignore', message='.*eventlet_backdoor')

from oslo_service import backend as _service_backend  # noqa: E402

_service_backend.register_backend_default_hook(
    lambda: _service_backend.BackendType.THREADING)
