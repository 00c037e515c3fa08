"""Shared fixtures: a real database (a fresh SQLite file per test, or PostgreSQL when
CREDITDESK_TEST_DATABASE_URL is set), the app with an injectable fixed clock, demo data, and
helpers to drive the API and the pages as the real roles."""
from __future__ import annotations

import os
import tempfile
from datetime import datetime

import pytest
from sqlalchemy import text

os.environ.setdefault("CREDITDESK_INSTANCE", tempfile.mkdtemp(prefix="creditdesk-test-instance-"))
os.environ.pop("DATABASE_URL", None)
os.environ.pop("CELERY_BROKER_URL", None)
os.environ.pop("SMTP_URL", None)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

from models import Base, db  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.demo import DEMO_PASSWORD, seed_demo  # noqa: E402
from webapp.views.common import commit  # noqa: E402
from workflows.clock import BEIJING, FixedClock  # noqa: E402

from page_client import Api, Browser  # noqa: E402

POSTGRES_URL = os.environ.get("CREDITDESK_TEST_DATABASE_URL")

#: DOMAIN.md §10 S2: the first eligible day of the S1 record.
DEFAULT_NOW = datetime(2026, 4, 13, 9, 0, tzinfo=BEIJING)


def _truncate_all(app) -> None:
    """Empty every table and restart every id sequence between tests on PostgreSQL.

    DELETE of a few rows is ~10x faster than TRUNCATE of ~50 tables (which makes new files for each);
    tables guarded by triggers against deletion (the immutable score snapshots) are truncated."""
    with app.app_context():
        with db.engine.begin() as conn:
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


@pytest.fixture
def database_url(tmp_path):
    if POSTGRES_URL:
        return POSTGRES_URL
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def clock():
    return FixedClock(DEFAULT_NOW)


@pytest.fixture
def app_config(database_url, clock, tmp_path):
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-secret-key-not-for-production-0123456789",
        "CLOCK_OBJECT": clock,
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "CELERY_BROKER_URL": None,
        "SMTP_URL": None,
    }


_postgres_schema_fresh = False


@pytest.fixture
def app(app_config):
    global _postgres_schema_fresh
    app = create_app(app_config)
    try:
        with app.app_context():
            if POSTGRES_URL and not _postgres_schema_fresh:
                # Once per run: the shared database may hold tables of an older (or newer) schema
                # that this checkout's metadata does not know, so drop the whole schema.
                with db.engine.begin() as conn:
                    conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                    conn.execute(text("CREATE SCHEMA public"))
                _postgres_schema_fresh = True
            db.create_all()
        if POSTGRES_URL:
            _truncate_all(app)
    except Exception:
        # A schema that cannot be created must fail this test alone, not leak its connection
        # and exhaust the server for every test after it.
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        raise
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def runtime(app):
    return app.extensions["creditdesk"]


@pytest.fixture
def demo(app):
    with app.app_context():
        seed_demo(app.extensions["creditdesk"])
        commit()
    return {"password": DEMO_PASSWORD}


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(app):
    return Api(app)


@pytest.fixture
def browser(app):
    return Browser(app)
