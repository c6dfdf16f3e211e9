"""Fixtures for tests against a real PostgreSQL/PostGIS: the server (CI's or one started here), a database per test.

``.ci/run`` starts a throwaway cluster and exports ``GRIDMAP_TEST_DB``; without it the fixture
starts one itself (tests/pgcluster.py). Tests are skipped only where PostgreSQL is not
installed, and never when ``CI=true`` (then they fail).
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests import pgcluster


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of a fresh database with only PostGIS in it, the template of every test's database."""
    url = os.environ.get("GRIDMAP_TEST_DB")
    if url:
        yield from _template(url)
        return
    if pgcluster.pg_bin() is None:
        reason = (
            "PostgreSQL/PostGIS is not installed here (apt-get install postgresql postgresql-15-postgis-3); "
            ".ci/run installs it"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    url, folder = pgcluster.start()
    try:
        yield from _template(url)
    finally:
        pgcluster.stop(folder)


def _template(url: str) -> Iterator[str]:
    name = f"tpl_{secrets.token_hex(6)}"
    with admin(url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        sql(_with_database(url, name), "CREATE EXTENSION postgis")
        yield _with_database(url, name)
    finally:
        with admin(url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def admin(url: str):
    """An autocommit psycopg connection to the server's ``postgres`` database."""
    import psycopg

    return psycopg.connect(_with_database(url, "postgres"), autocommit=True)


@pytest.fixture
def db(pg_server: str) -> Iterator[str]:
    """URL of a new, empty database with PostGIS (a copy of the template), dropped afterwards."""
    name = f"t_{secrets.token_hex(6)}"
    template = urlsplit(pg_server).path.lstrip("/")
    with admin(pg_server) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _with_database(pg_server, name)
    finally:
        with admin(pg_server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def plain_db(pg_server: str) -> Iterator[str]:
    """URL of a new database without PostGIS (from ``template0``), dropped afterwards."""
    name = f"t_{secrets.token_hex(6)}"
    with admin(pg_server) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        yield _with_database(pg_server, name)
    finally:
        with admin(pg_server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sql(url: str, query: str, params=None) -> list[tuple]:
    """Run one statement (autocommit) and return its rows (empty for statements without rows)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def cli(argv: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """Run the command line (``gridmap.cli:run``, which the installed ``gridmap`` calls) in-process.

    Returns exit code, stdout and stderr.
    """
    from gridmap.cli import run

    monkeypatch.setattr(sys, "argv", ["gridmap", *argv])
    code = 0
    try:
        run()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
