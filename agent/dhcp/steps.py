"""Helpers of the reconciler's steps: split a plan at the plug, and start dnsmasq on
a thread meanwhile."""

from __future__ import annotations

import os
import threading

from agent.dataplane import device as dev
from agent.reconcile.plan import Plan


def netns_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def split_at_plug(plan: Plan, fresh: bool = False) -> tuple[Plan, Plan] | None:
    """(namespace setup, the rest from the plug (or the veth pair) on) when the plan creates the
    namespace (or it was made just now: ``fresh``; the setup may then be empty)
    and plugs; else None."""
    actions = plan.actions
    if not actions or not (fresh or isinstance(actions[0], dev.CreateNamespace)):
        return None
    cut = next((i for i, a in enumerate(actions)
                if isinstance(a, (dev.PlugPort, dev.CreateVethPair))), None)
    if cut is None:
        return None
    return Plan(actions[:cut]), Plan(actions[cut:])


class Background:
    """Run ``fn(*args)`` on a thread; ``join()`` returns its result or re-raises
    what it raised."""

    def __init__(self, fn, *args, name='dnsmasq-start'):
        self._error: BaseException | None = None
        self._result = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), daemon=True,
                                        name=name)
        self._thread.start()

    def _run(self, fn, args):
        try:
            self._result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to join()
            self._error = exc

    def join(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result

