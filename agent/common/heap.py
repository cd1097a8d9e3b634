"""Give the memory freed after a burst of work back to the system.

A full sync of a thousand routers or networks decodes megabytes of RPC answers
and builds, for each resource, plans and rule sets that are freed right after:
glibc keeps the freed pages in its arenas (two per process, see
``agent/__init__.py``), fragmented between the objects that stay, so the RSS
stays at the burst's peak.  ``malloc_trim(0)`` returns every free page of every
arena to the kernel (``madvise(MADV_DONTNEED)``); it costs a few milliseconds,
so the agents call it once a burst is over, not per resource.
"""

from __future__ import annotations

import ctypes
import logging
from typing import Any

LOG = logging.getLogger(__name__)

_malloc_trim: Any
try:
    _malloc_trim = ctypes.CDLL(None).malloc_trim
    _malloc_trim.argtypes = [ctypes.c_size_t]
except (OSError, AttributeError):       # not glibc: nothing to trim
    _malloc_trim = None


def trim() -> bool:
    """Return free heap pages to the kernel; True if glibc released any."""
    if _malloc_trim is None:
        return False
    return bool(_malloc_trim(0))
