"""Imported first by each agent's entry point: keeps optional libraries out.

kombu registers a YAML serializer whenever it can import ``yaml``; oslo.messaging
speaks JSON only and no agent reads YAML.  ``None`` in ``sys.modules`` makes that
import fail with ImportError, and kombu goes on without it: an agent's RSS is
~0.9 MiB lower (the L3 agent's imports: 49.1 against 50.0 MiB, 3 runs each,
load 14).  It is done here and not in ``agent/__init__.py`` because the
controller's tests and tools share a process with libraries that need YAML
(openstacksdk's config loader, cloud-init's readers).
"""

import sys

sys.modules.setdefault('yaml', None)  # type: ignore[arg-type]  # None: its import fails
