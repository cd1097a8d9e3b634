"""Files written atomically, with tight permissions."""

import os
import tempfile


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


def read_text(path, default=None):
    try:
        with open(path, encoding='utf-8') as f:
            return f.read()
    except FileNotFoundError:
        return default


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
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', dir=directory)
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
