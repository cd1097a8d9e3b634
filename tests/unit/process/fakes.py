"""An in-memory process table with the ProcessDriver interface."""

import signal

from agent.process.actions import ObservedChild
from agent.process.driver import SpawnResult
from agent.process.scan import HostScan, Proc

ROOT_NETNS = 1
GONE = '(gone)'        # the namespace of a process whose namespace was deleted
# A child running as desired and watched: what a converged resource observes.
RUNNING = ObservedChild(running=True, argv_matches=True, config_current=True,
                        config_present=True, watch_current=True)


class FakeProcessTable:
    def __init__(self):
        self.procs = {}          # pid -> argv
        self.files = {}          # path -> content (pid files and config files)
        self.modes = {}
        self.signals = []        # (pid, sig)
        self.spawned = []        # (namespace, argv, env)
        self.ignore_sigterm = set()
        self.spawn_fails = None  # (returncode, stderr) to make the next spawn fail
        self._next_pid = 1000
        self.netns = {}          # pid -> namespace name ('' the host's, GONE)
        self.namespaces = []     # the named namespaces that exist
        self.parents = {}        # pid -> parent pid (default 1)

    def start_foreign(self, argv, namespace=''):
        """A process that is not ours (the pid file may point at it)."""
        self._next_pid += 1
        self.procs[self._next_pid] = tuple(argv)
        self.netns[self._next_pid] = namespace or ''
        if namespace and namespace != GONE and namespace not in self.namespaces:
            self.namespaces.append(namespace)
        return self._next_pid

    def _inode(self, name):
        if name == '':
            return ROOT_NETNS
        if name == GONE:
            return 99999
        return 100 + self.namespaces.index(name)

    def scan(self):
        return HostScan(
            tuple(Proc(pid, argv, self._inode(self.netns.get(pid, '')))
                  for pid, argv in sorted(self.procs.items())),
            {name: self._inode(name) for name in self.namespaces}, ROOT_NETNS)

    def parent(self, pid):
        return self.parents.get(pid, 1)

    def in_namespace(self, pid, namespace):
        return pid in self.procs and self.netns.get(pid, '') == (namespace or '')

    def write_pid(self, pid_file, pid):
        self.files[pid_file] = str(pid)

    # ProcessDriver
    def cmdline(self, pid):
        return self.procs.get(pid)

    def read_pid(self, pid_file):
        text = self.files.get(pid_file)
        try:
            return int(text) if text else None
        except ValueError:
            return None

    def pid_file_stamp(self, pid_file):
        text = self.files.get(pid_file)
        return text          # the fake's pids are never reused: the content will do

    def alive(self, pid):
        return pid in self.procs

    def remove_pid_file(self, pid_file):
        self.files.pop(pid_file, None)

    remove_file = remove_pid_file

    def read_config(self, path):
        return self.files.get(path)

    def prepare_pid_file(self, pid_file):
        self.remove_pid_file(pid_file)

    def write_config(self, path, content, mode):
        changed = self.files.get(path) != content
        self.files[path] = content
        self.modes[path] = mode
        return changed

    def send_signal(self, pid, sig):
        if pid not in self.procs:
            return False
        self.signals.append((pid, sig))
        if sig == signal.SIGKILL or (sig == signal.SIGTERM and pid not in self.ignore_sigterm):
            del self.procs[pid]
        return True

    def spawn(self, namespace, argv, env):
        self.spawned.append((namespace, tuple(argv), tuple(env)))
        if self.spawn_fails:
            code, err = self.spawn_fails
            return SpawnResult(code, err)
        pid = self.start_foreign(argv, namespace or '')
        # the daemon writes its pid file (dnsmasq --pid-file=..., haproxy pidfile)
        for arg in argv:
            if arg.startswith('--pid-file='):
                self.files[arg.split('=', 1)[1]] = str(pid)
        self.pid_file_hook(argv, pid)
        return SpawnResult(0, '')

    def pid_file_hook(self, argv, pid):
        pass

    def list_pid_files(self, pid_dir, service):
        out = []
        for path in sorted(self.files):
            head, _, name = path.rpartition('/')
            if head == pid_dir and name.endswith('.pid.' + service):
                out.append((name[:-len('.pid.' + service)], path))
            elif head.rpartition('/')[0] == pid_dir and name == 'pid':
                out.append((head.rpartition('/')[2], path))
        return out
