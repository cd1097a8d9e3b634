"""Can another user reach a file?  The agents' children drop root: dnsmasq runs as
``nobody`` (its compiled-in user; neither Neutron nor we pass ``--user``) and
re-reads its host/opts/addn_hosts files as that user on every SIGHUP; haproxy runs
as ``metadata_proxy_user`` and connects to the metadata socket as that user.  A
directory on the way they cannot search makes dnsmasq stop answering after its
first reload, with nothing logged, and haproxy answer 503: the agents check at
start and refuse to run instead (:func:`require_reachable`).

The check reads the permission bits the kernel applies (owner, group and
supplementary groups, other); ACLs are not considered.
"""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
import stat

from agent.common import fileutils

DNSMASQ_USER = 'nobody'      # dnsmasq's default --user
DNSMASQ_GROUP = 'dip'        # dnsmasq's default --group, when the group exists


class UnreachableError(RuntimeError):
    """A child's user cannot reach a file it needs; the message names both."""


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """A user as the kernel sees it: uid and every group it holds."""
    name: str
    uid: int
    gids: frozenset[int]

    @classmethod
    def of(cls, user: str, group: str | None = None) -> Identity:
        """``user`` (name or uid) with its primary and supplementary groups, and
        ``group`` (name or gid) when the child switches to it."""
        try:
            pw = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        except KeyError:
            raise UnreachableError(f'user {user!r} does not exist') from None
        gids = {pw.pw_gid}
        gids.update(g.gr_gid for g in grp.getgrall() if pw.pw_name in g.gr_mem)
        if group:
            gids.add(group_id(group))
        return cls(pw.pw_name, pw.pw_uid, frozenset(gids))

    def __str__(self) -> str:
        return self.name


def group_id(group: str) -> int:
    try:
        return int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        raise UnreachableError(f'group {group!r} does not exist') from None


def dnsmasq_identity() -> Identity:
    """The user and group dnsmasq switches to (``nobody``, group ``dip`` if any)."""
    try:
        grp.getgrnam(DNSMASQ_GROUP)
        group = DNSMASQ_GROUP
    except KeyError:
        group = None
    return Identity.of(DNSMASQ_USER, group)


def allowed(st: os.stat_result, who: Identity, want: int) -> bool:
    """Whether ``who`` has all of ``want`` (an ``os.R_OK|W_OK|X_OK`` mask) on a
    file with stat ``st``; root is always allowed (as the kernel allows it)."""
    if who.uid == 0:
        return True
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid == who.uid:
        bits = (mode >> 6) & 7
    elif st.st_gid in who.gids:
        bits = (mode >> 3) & 7
    else:
        bits = mode & 7
    return bits & want == want


_WHAT = {os.R_OK: 'read', os.W_OK: 'write', os.X_OK: 'search',
         os.R_OK | os.W_OK: 'read and write'}


def problem(path: str, who: Identity, want: int = os.R_OK,
            searchable: set[str] | None = None) -> str | None:
    """Why ``who`` cannot reach ``path`` (search every directory on the way, then
    ``want`` on ``path`` itself), or None.  Components that do not exist yet are
    skipped: the agent creates them with modes it chooses.  ``searchable`` (kept
    by the caller across calls) holds the directories found searchable already."""
    path = os.path.abspath(path)
    known = searchable if searchable is not None else set()
    chain = [path]          # up to the root, or to a directory known searchable
    while (parent := os.path.dirname(chain[-1])) != chain[-1] and parent not in known:
        chain.append(parent)
    for current in reversed(chain):
        try:
            st = os.stat(current)
        except FileNotFoundError:
            return None
        why = _denied(current, st, who, want if current == path else os.X_OK)
        if why is not None:
            return why
        if current != path:
            known.add(current)
    return None


def _denied(path: str, st: os.stat_result, who: Identity, want: int) -> str | None:
    """Why ``who`` lacks ``want`` on ``path`` (whose stat is ``st``), or None."""
    if allowed(st, who, want):
        return None
    mode = stat.S_IMODE(st.st_mode)
    return (f'{path} (mode {mode:04o}, owner {st.st_uid}:{st.st_gid}) does not '
            f'let user {who} {_WHAT.get(want, "use")} it')


def require_reachable(paths, who: Identity, child: str, want: int = os.R_OK) -> None:
    """Raise :class:`UnreachableError` naming the path and user when ``who`` (the
    user ``child`` runs as) cannot reach one of ``paths``."""
    for path in paths:
        why = problem(path, who, want)
        if why is not None:
            raise UnreachableError(
                f'{child} runs as user {who} and needs {path}, but {why}: make the '
                f'directories on the way searchable for it (chmod o+x, or group '
                f'ownership) or move state_path')


def check_dnsmasq_reach(confs_dir: str) -> None:
    """At the DHCP agent's start: dnsmasq (as ``nobody``) can search ``confs_dir``
    (``<state_path>/dhcp``, created here) and each network's directory in it, and
    read the files it re-reads on SIGHUP."""
    fileutils.ensure_dir(confs_dir)
    who = dnsmasq_identity()
    _require_dnsmasq(confs_dir, who, problem(confs_dir, who, os.R_OK | os.X_OK))
    # A network's directory is in confs_dir, searchable now: its own stat and its
    # files' are all there is to look at, one stat each (a missing file is the
    # agent's to write).  With 1000 networks: 12 ms of CPU instead of 27 ms (a
    # path walk and an exists() per file; 7 runs each, warm cache), at the
    # agent's start, before it serves anything.
    for entry in sorted(os.scandir(confs_dir), key=lambda e: e.name):
        if not entry.is_dir():
            continue
        _require_dnsmasq(entry.path, who, _denied(entry.path, entry.stat(), who,
                                                  os.R_OK | os.X_OK))
        for name in ('host', 'opts', 'addn_hosts'):
            path = os.path.join(entry.path, name)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            _require_dnsmasq(path, who, _denied(path, st, who, os.R_OK))


def _require_dnsmasq(path: str, who: Identity, why: str | None) -> None:
    if why is not None:
        raise UnreachableError(
            f'dnsmasq runs as user {who} and re-reads its files under {path} on '
            f'every reload, but {why}: make the directories on the way searchable '
            f'for it (chmod o+x) or move state_path')


def check_proxy_reach(socket_path: str, user: str, group: str, log) -> None:
    """At the start of an agent that runs metadata proxies: haproxy (as ``user``,
    ``group``) can search the directories down to the metadata socket; a socket
    it cannot write to (made by an older metadata agent) is logged, since the
    metadata agent may be restarted after us."""
    who = Identity.of(user, group)
    why = problem(os.path.dirname(os.path.abspath(socket_path)), who, os.X_OK)
    if why is not None:
        raise UnreachableError(
            f'the metadata proxies (haproxy) run as user {who} and connect to '
            f'{socket_path}, but {why}: make the directories on the way searchable '
            f'for it, or set metadata_proxy_user/metadata_proxy_socket')
    if os.path.exists(socket_path):
        why = problem(socket_path, who, os.W_OK)
        if why is not None:
            log.error('the metadata proxies (haproxy) run as user %s and cannot connect '
                      'to the metadata socket: %s; restart the metadata agent with the '
                      'same metadata_proxy_user/metadata_proxy_group', who, why)
