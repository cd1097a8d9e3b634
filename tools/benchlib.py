"""What the benchmark scripts in tools/ share.

Importing it puts the repository on ``sys.path``, so that a script run as
``python tools/bench-<x>.py`` can import ``agent`` and ``tests`` (the stacks of
the functional tests); :func:`machine` is the one line describing the machine
every benchmark prints before its figures.
"""

from __future__ import annotations

import os
import platform
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def machine() -> str:
    """``machine: <host> <arch>, <n> CPUs, <cpu model>, Linux <release>, Python <version>``."""
    return (f'machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, '
            f'{cpu_model()}, Linux {platform.release()}, '
            f'Python {platform.python_version()}')
