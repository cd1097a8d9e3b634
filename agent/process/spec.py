"""What a child process should be: the plain data a ProcessManager acts on."""

from __future__ import annotations

import dataclasses
import os
import re
import signal

from agent.common import names

# How a running child takes a changed config file: a signal, or None for a restart
# (haproxy re-reads its configuration only when started again, as in Neutron).
RELOAD_SIGNALS: dict[str, int | None] = {
    'dnsmasq': signal.SIGHUP,
    'haproxy': None,
    'radvd': signal.SIGHUP,
    'keepalived': signal.SIGHUP,
}

_SERVICE_RE = re.compile(r'^[a-z][a-z0-9_-]{0,31}$')
_ENV_NAME_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
PROCESS_TAG = 'PROCESS_TAG'


class InvalidSpec(ValueError):
    """A ProcessSpec that cannot be run safely."""


@dataclasses.dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One child process, identified by ``(service, uuid)``.

    ``uuid`` must appear in the child's command line: that is how the process is
    recognised as ours (``/proc/<pid>/cmdline``) after an agent restart.
    ``config_files`` are ``(path, content)`` pairs written atomically with
    ``config_mode`` before the process is started or reloaded; a change of their
    content triggers a reload. ``spawn_files`` are written only when the process is
    (re)started, never compared (dnsmasq's lease seed file, as in Neutron).
    ``companion_pid_files`` are the pid files of the child's own children
    (keepalived's VRRP process): before a start, a live one of ours is stopped and
    the file removed (keepalived refuses to start while the file names a pid that
    answers signal 0, even a zombie).
    """
    service: str
    uuid: str
    namespace: str | None
    argv: tuple[str, ...]
    pid_file: str
    env: tuple[tuple[str, str], ...] = ()
    config_files: tuple[tuple[str, str], ...] = ()
    config_mode: int = 0o644
    spawn_files: tuple[tuple[str, str], ...] = ()
    companion_pid_files: tuple[str, ...] = ()

    def __post_init__(self):
        what = f'{self.service} process spec'
        if not isinstance(self.service, str) or not _SERVICE_RE.match(self.service):
            raise InvalidSpec(f'{what}: invalid service name {self.service!r}')
        names.validate_uuid(self.uuid, f'{self.service} uuid')
        where = f'{self.service} for {self.uuid}'
        if self.namespace is not None and (
                not self.namespace or '/' in self.namespace or self.namespace in ('.', '..')):
            raise InvalidSpec(f'{where}: invalid namespace {self.namespace!r}')
        if not self.argv or not all(isinstance(a, str) for a in self.argv):
            raise InvalidSpec(f'{where}: argv must be a non-empty tuple of strings')
        if not any(self.uuid in a for a in self.argv):
            raise InvalidSpec(f'{where}: the uuid must appear in argv, or the process '
                              'could not be recognised as ours')
        if not os.path.isabs(self.pid_file):
            raise InvalidSpec(f'{where}: pid file {self.pid_file!r} is not absolute')
        for name, _value in self.env:
            if not _ENV_NAME_RE.match(name):
                raise InvalidSpec(f'{where}: invalid environment variable {name!r}')
        for path, content in (*self.config_files, *self.spawn_files):
            if not os.path.isabs(path) or not isinstance(content, str):
                raise InvalidSpec(f'{where}: config file {path!r} needs an absolute '
                                  'path and str content')

    @property
    def key(self) -> tuple[str, str]:
        return (self.service, self.uuid)

    @property
    def process_tag(self) -> str:
        return f'{self.service}-{self.uuid}'

    @property
    def reload_signal(self) -> int | None:
        """The signal that makes the child re-read its files; None: restart it."""
        return RELOAD_SIGNALS.get(self.service, signal.SIGHUP)

    def describe(self) -> str:
        where = f' in {self.namespace}' if self.namespace else ''
        return f'{self.service} for {self.uuid}{where}'
