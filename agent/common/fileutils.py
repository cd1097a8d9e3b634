"""Files written atomically, with tight permissions.

A write goes through ``.<name>.tmp-<random>`` in the same directory; a writer
killed before its rename leaves that file behind, which :func:`sweep_temp`
recognises by name (and age, so a write in flight is never swept).
"""

import logging
import os
import re
import stat
import tempfile
import time

LOG = logging.getLogger(__name__)

TEMP_MARK = '.tmp-'
TEMP_NAME = re.compile(r'^\..+\.tmp-[A-Za-z0-9_]{8}$')
TEMP_MIN_AGE = 5.0      # seconds; any write of ours takes far less


def ensure_dir(path, mode=0o755):
    """``path`` and its missing parents; the directories made here get exactly
    ``mode`` whatever the umask (dnsmasq and haproxy search them as other users,
    and the agents' units run with UMask=0027)."""
    missing = []
    current = os.path.abspath(path)
    while not os.path.isdir(current) and os.path.dirname(current) != current:
        missing.append(current)
        current = os.path.dirname(current)
    os.makedirs(path, mode=mode, exist_ok=True)
    for directory in missing:
        os.chmod(directory, mode)
    return path


def read_text(path, default=None, errors='strict'):
    """The file's text, ``default`` if it does not exist; ``errors='replace'``
    reads a file holding non-UTF-8 bytes instead of raising."""
    try:
        with open(path, encoding='utf-8', errors=errors) as f:
            return f.read()
    except FileNotFoundError:
        return default


def read_lenient(path, default=None):
    """:func:`read_text` of a file of ours that may hold garbage: the undecodable
    bytes read as U+FFFD, so the content differs from any we render and is
    written again."""
    return read_text(path, default, errors='replace')


def remove(path):
    """Delete ``path``; True if it existed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def write_atomic(path, content, mode=0o644):
    """Write ``content`` to ``path`` through a temporary file and a rename.

    Readers see either the old or the new file, never a torn one.  Returns True
    when the content changed, False when the file already held exactly it (and
    then nothing is written).  Errors (disk full, read-only) propagate with the
    path in the message and leave the old file in place.
    """
    data = content.encode('utf-8') if isinstance(content, str) else content
    try:
        with open(path, 'rb') as f:
            if f.read() == data:
                return False
    except FileNotFoundError:
        pass
    directory = os.path.dirname(path) or '.'
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + TEMP_MARK,
                               dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise OSError(exc.errno, f'cannot write {path}: {exc.strerror}') from exc
        raise
    return True


def is_temp_name(name, legacy=()):
    """A temp file name of :func:`write_atomic`; ``legacy`` file names also match
    their older ``.<name>.<random>`` temps (only for directories all ours)."""
    if TEMP_NAME.match(name):
        return True
    return any(re.fullmatch(rf'\.{re.escape(n)}\.[a-z0-9_]{{8}}', name) for n in legacy)


def sweep_temp(directory, min_age=TEMP_MIN_AGE, legacy=(), now=None):
    """Remove the temp files a killed write left in ``directory`` (not below it),
    if older than ``min_age`` seconds; returns the paths removed."""
    try:
        entries = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    now = time.time() if now is None else now
    removed = []
    for name in sorted(entries):
        if not is_temp_name(name, legacy):
            continue
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < min_age:
            continue
        if remove(path):
            LOG.info('removed %s, left by an interrupted write', path)
            removed.append(path)
    return removed
