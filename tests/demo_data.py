"""The demo data of the tests: seeded once per process and clock reading, then copied.

`seed_demo()` costs 0.1–0.4 s (hundreds of catalogue rows, ORM flushes) and runs before most of the
~2,000 tests, on SQLite and again on PostgreSQL. The first seed for a given (dialect, clock reading,
password hash method) is kept — PostgreSQL: copies of the seeded tables in a schema of their own;
SQLite: a copy of the database file — and later tests get the same rows by INSERT … SELECT in one
transaction, sequences where the seed left them. Only into an empty database; otherwise
`seed_demo()` runs as usual (it is idempotent). `test_demo_data.py` checks that a copy equals a
fresh seed, row for row.

`empty_database(engine)` empties every table and restarts the ids (PostgreSQL: DELETE, ~10x faster
than TRUNCATE for a few rows; the tables guarded by triggers against deletion are truncated).
"""
from __future__ import annotations

import atexit
import functools
import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass, field

from models import Base, db
from webapp.demo import seed_demo
from webapp.views.common import commit

SNAPSHOT_SCHEMA_PREFIX = "demo_snapshot_"
_counter = itertools.count(1)


@dataclass
class _Snapshot:
    tables: list[str]
    location: str                       #: PostgreSQL: schema; SQLite: file
    sequences: dict[str, tuple[int, bool]] = field(default_factory=dict)
    usable: bool = True


_SNAPSHOTS: dict[tuple, _Snapshot] = {}


def _table_names() -> list[str]:
    return [table.name for table in Base.metadata.sorted_tables]


def _non_empty(conn, names: list[str]) -> list[str]:
    probes = " UNION ALL ".join(f"SELECT '{name}' FROM (SELECT 1 FROM \"{name}\" LIMIT 1) AS p{i}"
                                for i, name in enumerate(names))
    found = {row[0] for row in conn.exec_driver_sql(probes)}
    return [name for name in names if name in found]


def seed_demo_data(app) -> str:
    """The demo data in the app's database: "restored" (copied), "seeded" (and kept) or "seeded"
    into a database that was not empty."""
    runtime = app.extensions["creditdesk"]
    with app.app_context():
        engine = db.engine
        key = (engine.dialect.name, runtime.clock.now().isoformat(), app.config.get("PASSWORD_HASH_METHOD"))
        snapshot = _SNAPSHOTS.get(key)
        # On the session's own connection (an adjustable clock has just read the database through it),
        # then released: on SQLite every transaction holds the write lock (BEGIN IMMEDIATE).
        empty = not _non_empty(db.session.connection(), _table_names())
        db.session.remove()
        if empty and snapshot is not None and snapshot.usable:
            if _restore(engine, snapshot):
                return "restored"
            snapshot.usable = False
        seed_demo(runtime)
        commit()
        if empty and snapshot is None:
            _SNAPSHOTS[key] = _take(engine)
        db.session.remove()
        return "seeded"


def _take(engine) -> _Snapshot:
    if engine.dialect.name == "postgresql":
        schema = f"{SNAPSHOT_SCHEMA_PREFIX}{os.getpid()}_{next(_counter)}"
        with engine.begin() as conn:
            tables = _non_empty(conn, _table_names())
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            conn.exec_driver_sql("; ".join(f'CREATE TABLE "{schema}"."{name}" AS SELECT * FROM public."{name}"'
                                           for name in tables))
            sequences = {}
            for name in _sequences(conn):
                value, called = conn.exec_driver_sql(f'SELECT last_value, is_called FROM public."{name}"').one()
                sequences[name] = (int(value), bool(called))
        return _Snapshot(tables=tables, location=schema, sequences=sequences)
    path = os.path.join(_snapshot_folder(), f"demo-{next(_counter)}.db")
    with engine.connect() as conn:
        tables = _non_empty(conn, _table_names())
    raw = engine.raw_connection()  # VACUUM runs outside a transaction
    try:
        raw.cursor().execute("VACUUM INTO ?", (path,))
    finally:
        raw.close()
    return _Snapshot(tables=tables, location=path)


@functools.cache
def _snapshot_folder() -> str:
    folder = tempfile.mkdtemp(prefix="creditdesk-test-demo-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _sequences(conn) -> list[str]:
    return list(conn.exec_driver_sql(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'S' AND n.nspname = 'public' ORDER BY c.relname").scalars())


def _restore(engine, snapshot: _Snapshot) -> bool:
    if engine.dialect.name == "postgresql":
        statements = ["SET LOCAL session_replication_role = replica"]  # no FK checks while copying (a superuser)
        statements += [f'INSERT INTO public."{name}" SELECT * FROM "{snapshot.location}"."{name}"'
                       for name in snapshot.tables]
        statements += [f"SELECT setval('public.\"{name}\"', {value}, {str(called).lower()})"
                       for name, (value, called) in snapshot.sequences.items()]
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("; ".join(statements))
        except Exception:  # noqa: BLE001 - e.g. not a superuser: seed as usual from now on
            return False
        return True
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("ATTACH DATABASE ? AS demo_source", (snapshot.location,))
        try:
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute("PRAGMA defer_foreign_keys = ON")
            for name in snapshot.tables:
                cursor.execute(f'INSERT INTO main."{name}" SELECT * FROM demo_source."{name}"')
            if cursor.execute("SELECT 1 FROM demo_source.sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
                cursor.execute("DELETE FROM main.sqlite_sequence")
                cursor.execute("INSERT INTO main.sqlite_sequence SELECT * FROM demo_source.sqlite_sequence")
            cursor.execute("COMMIT")
        except Exception:
            cursor.execute("ROLLBACK")
            raise
        finally:
            cursor.execute("DETACH DATABASE demo_source")
    finally:
        raw.close()
    return True


def drop_snapshot_schemas(conn) -> None:
    """PostgreSQL: the snapshot schemas of earlier runs (their tables may have another shape)."""
    for (name,) in conn.exec_driver_sql(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (SNAPSHOT_SCHEMA_PREFIX + "%",)).all():
        conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
    _SNAPSHOTS.clear()


def empty_database(engine) -> None:
    """Every table emptied, every id restarted (PostgreSQL; SQLite tests get a new file instead)."""
    with engine.begin() as conn:
        guarded = set(conn.exec_driver_sql(
            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND n.nspname = 'public'"
        ).scalars())
        if guarded:
            conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{name}"' for name in sorted(guarded)) + " CASCADE")
        conn.exec_driver_sql("; ".join(f'DELETE FROM "{t.name}"' for t in reversed(Base.metadata.sorted_tables)
                                       if t.name not in guarded))
        conn.exec_driver_sql(
            "SELECT setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'S' AND n.nspname = 'public'")
