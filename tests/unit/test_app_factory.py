"""The app factory's process-wide pieces: apps are freed when dropped, URL builders and compiled
templates are shared between apps without mixing them up, the password hash method is a setting."""
from __future__ import annotations

import gc
import weakref

from flask import url_for
from jinja2 import DictLoader, Environment

from models import User, db
from models.people import DEFAULT_PASSWORD_HASH_METHOD, hash_password
from notifications.celery_app import celery_for
from webapp import TEMPLATE_BYTECODE, ProcessBytecodeCache, create_app
from webapp.routing import SharedBuilderRule


def _config(tmp_path, name: str, **extra) -> dict:
    return {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / name}",
            "SECRET_KEY": "factory-test-secret-0123456789abcdef", "CELERY_BROKER_URL": None, "SMTP_URL": None,
            "UPLOAD_DIR": str(tmp_path / "uploads"), **extra}


def _close(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_an_app_that_is_dropped_is_freed(tmp_path):
    # The Celery app of each engine was once held strongly in a weak-key map whose value led back to
    # the key: every app ever created stayed in memory (~2 MB per test, 4 GB per suite run).
    first = create_app(_config(tmp_path, "first.db"))
    with first.app_context():
        db.create_all()
        assert celery_for(db.session) is first.extensions["celery"]
    ref = weakref.ref(first)
    _close(first)
    second = create_app(_config(tmp_path, "second.db"))  # Celery's default app is now the second's
    del first
    gc.collect()
    assert ref() is None
    with second.app_context():
        assert celery_for(db.session) is second.extensions["celery"]
    _close(second)


def test_url_builders_are_compiled_once_and_build_each_apps_urls(tmp_path):
    one, two = create_app(_config(tmp_path, "one.db")), create_app(_config(tmp_path, "two.db"))
    assert one.url_rule_class is SharedBuilderRule
    rule_one = next(r for r in one.url_map.iter_rules() if r.endpoint == "cases.show")
    rule_two = next(r for r in two.url_map.iter_rules() if r.endpoint == "cases.show")
    assert rule_one is not rule_two and rule_one._build.__func__ is rule_two._build.__func__
    assert rule_one._build.__self__ is rule_one  # bound to its own rule (and its converters)
    for app in (one, two):
        with app.test_request_context():
            assert url_for("cases.show", case_id=7) == "/cases/7"
            assert url_for("cases.show", case_id=8, tab="x y") == "/cases/8?tab=x+y"
            assert url_for("cases.action", case_id=3, trigger="submit") == "/cases/3/actions/submit"
            assert url_for("cases.download", case_id=3, attachment_id=4) == "/cases/3/attachments/4"
    _close(one)
    _close(two)


def test_templates_compile_once_per_process_and_again_when_the_source_changes():
    cache = ProcessBytecodeCache()
    first = Environment(loader=DictLoader({"t.html": "A{{ x }}"}), bytecode_cache=cache)
    assert first.get_template("t.html").render(x=1) == "A1"

    def refuse(*_args, **_kwargs):
        raise AssertionError("compiled again")

    second = Environment(loader=DictLoader({"t.html": "A{{ x }}"}), bytecode_cache=cache)
    second.compile = refuse  # another app of the process: the compiled code comes from the cache
    assert second.get_template("t.html").render(x=2) == "A2"

    edited = Environment(loader=DictLoader({"t.html": "B{{ x }}"}), bytecode_cache=cache)
    assert edited.get_template("t.html").render(x=3) == "B3"  # new source checksum: compiled again


def test_the_app_uses_the_process_template_cache(tmp_path):
    app = create_app(_config(tmp_path, "t.db"))
    assert app.jinja_env.bytecode_cache is TEMPLATE_BYTECODE
    with app.test_request_context():
        app.jinja_env.get_template("base.html")
    assert any(isinstance(code, bytes) and code for code in TEMPLATE_BYTECODE._store.values())
    _close(app)


def test_password_hash_method_is_a_setting_with_scrypt_by_default(tmp_path):
    assert DEFAULT_PASSWORD_HASH_METHOD == "scrypt"
    assert hash_password("Secret#1").startswith("scrypt:")  # outside an app: the default
    cheap = create_app(_config(tmp_path, "cheap.db", PASSWORD_HASH_METHOD="pbkdf2:sha256:1000"))
    with cheap.app_context():
        user = User(username="u", role="applicant", display_name="u")
        user.set_password("Secret#1")
        assert user.password_hash.startswith("pbkdf2:sha256:1000$")
        assert user.check_password("Secret#1") and not user.check_password("secret#1")
    _close(cheap)
    default = create_app(_config(tmp_path, "default.db"))
    with default.app_context():
        user = User(username="v", role="applicant", display_name="v")
        user.set_password("Secret#1")
        assert user.password_hash.startswith("scrypt:") and user.check_password("Secret#1")
    _close(default)
