"""Imported first by each agent's entry point: keeps optional libraries out.

``None`` in ``sys.modules`` makes an import of that name fail with ImportError.
Each name here is one that a library the agents load imports *optionally*
(inside ``try: ... except ImportError``) and goes on without, in a feature no
agent uses:

- ``yaml``: kombu registers a YAML serializer whenever it can import it;
  oslo.messaging speaks JSON only and no agent reads YAML (~0.9 MiB of RSS:
  the L3 agent's imports, 49.1 against 50.0 MiB, 3 runs each, load 14);
- ``msgpack``: kombu's msgpack serializer, likewise (0.24 MiB, 5 modules);
- ``setproctitle``: cotyledon (loaded by oslo.service's threading backend,
  which oslo.messaging's server module imports) names its worker processes
  with it; an agent never starts cotyledon workers;
- ``idna``: rfc3986 (oslo.config's URI type) encodes internationalised host
  names of IRIs with it; the agents parse URIs, never IRIs.

The last three: 47.7 against 48.3 MiB of RSS for every module of the DHCP and
L3 agents imported in one interpreter, 11 modules fewer (5 runs each, all alike).
It is done here and not in ``agent/__init__.py`` because the controller's tests
and tools share a process with libraries that need them (openstacksdk's config
loader and cloud-init's readers read YAML; requests encodes host names with
idna).
"""

import sys

OPTIONAL_UNLOADED = ('yaml', 'msgpack', 'setproctitle', 'idna')

for _name in OPTIONAL_UNLOADED:
    sys.modules.setdefault(_name, None)  # type: ignore[arg-type]  # None: its import fails
