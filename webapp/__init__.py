"""Flask app factory: `create_app(config=None)` builds the web app, API, CLI and workers' context."""
from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from jinja2 import BytecodeCache
from sqlalchemy import event
from sqlalchemy.engine import Engine

from models import db

from . import config as config_module
from .routing import SharedBuilderRule

csrf = CSRFProtect()


class ProcessBytecodeCache(BytecodeCache):
    """Compiled templates shared by every app of this process (Jinja checks each entry against the
    template's source checksum, so an edited template is compiled again). One server process has one
    app and gains nothing; the test suite creates an app per test and would otherwise compile every
    template it renders again for each test."""

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        data = self._store.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket) -> None:
        self._store[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_BYTECODE = ProcessBytecodeCache()


def _sqlite_tuning(engine: Engine) -> None:
    """WAL, NORMAL sync, foreign keys, and BEGIN IMMEDIATE so writers queue instead of failing.

    pysqlite's own transaction handling breaks SAVEPOINTs (which fire() relies on); SQLAlchemy's
    documented recipe is to switch it off and emit BEGIN ourselves.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class CreditDeskFlask(Flask):
    url_rule_class = SharedBuilderRule


def create_app(config: dict | None = None) -> Flask:
    app = CreditDeskFlask(__name__, instance_path=config_module.instance_dir().as_posix())
    app.config.update(config_module.from_environment())
    app.config.update(
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,  # hard cap per request; per-file limits come from the rules
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
    )
    if config:
        app.config.update(config)
    app.config["SQLALCHEMY_DATABASE_URI"] = config_module.normalise_database_url(app.config["SQLALCHEMY_DATABASE_URI"])

    db.init_app(app)
    csrf.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _sqlite_tuning(db.engine)

    from .runtime import init_runtime

    init_runtime(app)

    from notifications.celery_app import init_celery

    init_celery(app)

    from .errors import register_error_handlers
    from .views import register_blueprints

    register_error_handlers(app)
    register_blueprints(app)
    app.jinja_env.bytecode_cache = TEMPLATE_BYTECODE

    from .cli import register_cli

    register_cli(app)
    return app
