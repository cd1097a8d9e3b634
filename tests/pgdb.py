"""PostgreSQL databases for tests and benchmarks, one per use, dropped afterwards.

``tools/setup-host.sh`` creates the role ``netnode_test`` (LOGIN CREATEDB, password
``netnode_test``); ``NETNODE_TEST_PG`` overrides the server part of the URL.  A
missing PostgreSQL is an error, not a skip: the suite promises both backends.
"""

import os

import psycopg

SERVER = os.environ.get('NETNODE_TEST_PG',
                        'postgresql://netnode_test:netnode_test@127.0.0.1:5432')
ADMIN_URL = f'{SERVER}/postgres'


def url_of(name):
    return f'{SERVER}/{name}'


def create_database(name):
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url_of(name)


def drop_database(name):
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
