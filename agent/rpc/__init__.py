"""Everything about the bus: transport, codec, clients, heartbeat, agent endpoints.

oslo.messaging drags eventlet in transitively, which prints a deprecation warning
on import; nothing here uses eventlet (the threading executor only), so the
warning is silenced before anything imports oslo.messaging through this package.
"""

import warnings

warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
warnings.filterwarnings('ignore', module='oslo_service.backend._eventlet')
warnings.filterwarnings('ignore', module='oslo_utils.eventletutils')
warnings.filterwarnings('ignore', message='.*eventlet_backdoor')
