"""Rows our API refuses, written straight into a test controller's SQLite database.

They stand for what another controller (a neutron-server) may send the agents:
the agents must check it themselves.  The controller's own connections enforce
foreign keys; this one does not, so a port's id can be changed with its
allocations in one transaction.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3


def _db(server):
    return sqlite3.connect(os.path.join(server.state_path, 'netnode.sqlite'), timeout=30)


def rename_port(server, old_id: str, new_id: str) -> None:
    """Give port ``old_id`` the id ``new_id`` (e.g. one sharing 11 characters with
    another port's, which the API answers with 409)."""
    with contextlib.closing(_db(server)) as db, db:
        db.execute('UPDATE ports SET id = ? WHERE id = ?', (new_id, old_id))
        db.execute('UPDATE ipallocations SET port_id = ? WHERE port_id = ?', (new_id, old_id))


def set_extra_dhcp_opts(server, port_id: str, opts: list[dict]) -> None:
    """Store ``opts`` as the port's extra_dhcp_opts, unchecked."""
    with contextlib.closing(_db(server)) as db, db:
        db.execute('UPDATE ports SET extra_dhcp_opts = ? WHERE id = ?',
                   (json.dumps(opts), port_id))


def colliding_id(port_id: str) -> str:
    """A canonical UUID whose first 11 characters are ``port_id``'s."""
    return port_id[:11] + ('e' if port_id[11] == 'f' else 'f') + port_id[12:]
