"""Waiting for a condition: one loop for the tools, the all-in-one and the tests."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar('T')


def poll(predicate: Callable[[], T], timeout: float, interval: float = 0.05) -> T:
    """The first truthy value of ``predicate()`` within ``timeout`` seconds, else
    its last (falsy) value.  ``predicate`` is always called at least once."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def wait_for(predicate: Callable[[], T], timeout: float, interval: float = 0.05,
             what: str = 'condition', error: type[Exception] = TimeoutError) -> T:
    """Like :func:`poll`, but raise ``error`` naming ``what`` on a timeout."""
    value = poll(predicate, timeout, interval)
    if not value:
        raise error(f'timed out after {timeout:g} s waiting for {what}')
    return value
