"""The two names of pyroute2 the drivers use, without loading the rest of pyroute2.

``import pyroute2`` (or of any of its submodules) first runs the package's
``__init__``, which imports every API pyroute2 has: IPDB, NDB (with sqlite3),
IPVS, nl80211, WireGuard, plan9, ... — some 180 modules, ~5 MiB per process
more than ``IPRoute`` needs.  If nothing has imported pyroute2 yet, the package
is registered here without running its ``__init__`` (submodules import as usual,
and the package logger is set up as ``__init__`` does); the first lookup of any
other package-level name (``from pyroute2 import NDB``) runs the real
``__init__`` then, so other users of pyroute2 in the process see it whole.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

PACKAGE = 'pyroute2'


def _register_bare_package() -> None:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None:
        return                       # the plain import below then says what is missing
    package = importlib.util.module_from_spec(spec)
    loaded: list[bool] = []

    def load_everything(name: str) -> Any:
        # A submodule not imported yet (``from pyroute2 import netns``) is not
        # a reason: the import system imports it once this says it is missing.
        if (name.startswith('__') or loaded
                or importlib.util.find_spec(f'{PACKAGE}.{name}') is not None):
            raise AttributeError(f'module {PACKAGE!r} has no attribute {name!r}')
        loaded.append(True)
        spec.loader.exec_module(package)
        return getattr(package, name)

    package.__getattr__ = load_everything  # type: ignore[method-assign]
    sys.modules[PACKAGE] = package


if PACKAGE not in sys.modules:
    _register_bare_package()

from pyroute2.config import log as _log  # noqa: E402,F401 - pyroute2's logger, as its __init__
from pyroute2.iproute import IPRoute  # noqa: E402
from pyroute2.netlink.exceptions import NetlinkError  # noqa: E402

__all__ = ['IPRoute', 'NetlinkError']
