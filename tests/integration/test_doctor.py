"""`creditdesk doctor` against real services: a real SMTP server (aiosmtpd), the machine's Redis
(a PING only: nothing is written), ports nobody listens on for the failing services, and the
embedded default, where every service that is not configured is reported as not configured.
(Its Prefect checks against a real server are in tests/flows/test_deployments.py.)"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from local_servers import free_port, missing_prerequisite, smtp_serving
from webapp import create_app
from webapp.doctor import FAIL, OK, SKIP, WARN, run_checks

MACHINE_REDIS = os.environ.get("CREDITDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
SENDER = "desk@credit.wendeng.example.cn"
#: On PostgreSQL (CREDITDESK_TEST_DATABASE_URL) the doctor warns that without PREFECT_API_URL nothing
#: sweeps deadlines under gunicorn; on the embedded SQLite default Prefect is simply not configured.
ON_POSTGRES = bool(os.environ.get("CREDITDESK_TEST_DATABASE_URL"))
NO_PREFECT = WARN if ON_POSTGRES else SKIP


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp():
    with smtp_serving(Mailbox()) as mailbox:
        yield mailbox


@pytest.fixture
def machine_redis():
    """The machine's Redis, only pinged. Without it: skip locally, fail in CI."""
    client = redis.Redis.from_url(MACHINE_REDIS, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = f"Redis not reachable at {MACHINE_REDIS}: scripts/test.sh starts it ({exc})"
        missing_prerequisite(reason)
    finally:
        client.close()
    return MACHINE_REDIS


@pytest.fixture(autouse=True)
def no_prefect(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


def statuses(checks) -> dict[str, str]:
    return {c.name: c.status for c in checks}


def messages(checks) -> dict[str, str]:
    return {c.name: c.message for c in checks}


def test_the_embedded_default_is_fine_and_says_what_is_not_configured(app):
    result = app.test_cli_runner().invoke(args=["doctor"])
    assert result.exit_code == 0, result.output
    checks = run_checks(app)
    assert statuses(checks) == {
        "database": OK, "schema": OK,
        # The clock says 2026-04-13: 2026 ships with the package, 2027 is not published yet.
        "calendar": WARN,
        "secret_key": OK, "uploads": OK,
        "broker": SKIP, "smtp": SKIP, "prefect": NO_PREFECT, "sms": SKIP, "webhooks": SKIP,
    }
    assert "2027" in messages(checks)["calendar"]
    assert result.output.count("[未配置 not configured]") == 4 + (not ON_POSTGRES)
    for name in ("broker", "smtp", "prefect", "sms", "webhooks"):
        assert "not set" in messages(checks)[name] or "no webhooks" in messages(checks)[name], name
    assert "result: every configured service works" in result.output


def test_real_smtp_and_redis_answer_and_nothing_is_sent(app, smtp, machine_redis):
    # Configured on the running app: the SMTP server, Redis as the broker, an SMS gateway and a
    # department webhook that accept TCP connections (the SMTP server's port stands in for both).
    listening = f"http://127.0.0.1:{smtp.port}/"
    app.config.update(SMTP_URL=f"smtp://127.0.0.1:{smtp.port}?from={SENDER}", CELERY_BROKER_URL=machine_redis,
                      SMS_GATEWAY_URL=listening + "sms", WEBHOOK_URLS=f"market={listening}hook",
                      WEBHOOK_SECRET="a-shared-secret-of-the-market-department")
    checks = run_checks(app)
    assert statuses(checks) | {"calendar": "-"} == {
        "database": OK, "schema": OK, "calendar": "-", "secret_key": OK, "uploads": OK,
        "broker": OK, "smtp": OK, "prefect": NO_PREFECT, "sms": OK, "webhooks": OK}
    text = messages(checks)
    assert f"127.0.0.1:{smtp.port}" in text["smtp"] and "EHLO" in text["smtp"] and "no mail sent" in text["smtp"]
    assert "Redis" in text["broker"]
    assert smtp.messages == []
    result = app.test_cli_runner().invoke(args=["doctor"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("broker", ["redis", "amqp"])
def test_closed_ports_fail_and_say_which_service_and_where(app, tmp_path, monkeypatch, broker):
    closed = {name: free_port() for name in ("smtp", "broker", "sms", "hook")}
    broker_url = (f"redis://127.0.0.1:{closed['broker']}/0" if broker == "redis"
                  else f"amqp://guest:guest@127.0.0.1:{closed['broker']}//")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    app.config.update(SMTP_URL=f"smtp://127.0.0.1:{closed['smtp']}?from={SENDER}", CELERY_BROKER_URL=broker_url,
                      SMS_GATEWAY_URL=f"http://127.0.0.1:{closed['sms']}/send",
                      WEBHOOK_URLS=f"market=http://127.0.0.1:{closed['hook']}/", WEBHOOK_SECRET=None,
                      UPLOAD_DIR=str(blocker / "uploads"))
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    checks = run_checks(app, timeout=2)
    status, text = statuses(checks), messages(checks)
    for name in ("smtp", "broker", "sms", "webhooks", "prefect", "uploads"):
        assert status[name] == FAIL, (name, text[name])
    assert status["database"] == OK
    assert f"127.0.0.1:{closed['smtp']}" in text["smtp"] and "does not work" in text["smtp"]
    assert f"127.0.0.1:{closed['broker']}" in text["broker"] and "messages wait in the outbox" in text["broker"]
    assert f"127.0.0.1:{closed['sms']}" in text["sms"]
    assert "no WEBHOOK_SECRET" in text["webhooks"] and f"127.0.0.1:{closed['hook']}" in text["webhooks"]
    assert "does not answer" in text["prefect"]
    assert "not writable" in text["uploads"]

    result = app.test_cli_runner().invoke(args=["doctor", "--timeout", "2"])
    assert result.exit_code == 1
    assert "[失败 FAIL] 邮件 SMTP" in result.output and "check(s) failed" in result.output


def test_production_settings_that_cannot_work_are_named(tmp_path, monkeypatch):
    instance = Path(os.environ["CREDITDESK_INSTANCE"])
    generated = (instance / "secret_key").read_text().strip() if (instance / "secret_key").exists() else None
    closed = free_port()
    production = {"SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://creditdesk@127.0.0.1:{closed}/creditdesk",
                  "UPLOAD_DIR": str(tmp_path / "uploads"), "CELERY_BROKER_URL": None, "SMTP_URL": None}

    weak = create_app({**production, "SECRET_KEY": "dev"})
    checks = run_checks(weak, timeout=2)
    assert statuses(checks)["database"] == FAIL and statuses(checks)["secret_key"] == FAIL
    assert f"127.0.0.1:{closed}" in messages(checks)["database"] and "cannot connect" in messages(checks)["database"]
    assert "password" not in messages(checks)["database"]
    assert "too short" in messages(checks)["secret_key"]
    # No PREFECT_API_URL on PostgreSQL: nothing sweeps deadlines under gunicorn.
    assert statuses(checks)["prefect"] == WARN

    if generated is None:
        create_app({})  # writes the instance's generated key
        generated = (instance / "secret_key").read_text().strip()
    shared = create_app({**production, "SECRET_KEY": generated})
    assert "same SECRET_KEY" in messages(run_checks(shared, timeout=2))["secret_key"]

    missing = create_app({**production, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'none.db'}",
                          "SECRET_KEY": "x" * 40})
    first = run_checks(missing)
    assert statuses(first)["database"] == FAIL and "init-db" in messages(first)["database"]
    assert not (tmp_path / "none.db").exists()  # the doctor creates nothing

    (tmp_path / "empty.db").touch()
    empty = create_app({**production, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.db'}",
                        "SECRET_KEY": "x" * 40})
    checks = run_checks(empty)
    assert statuses(checks)["database"] == OK and statuses(checks)["schema"] == FAIL
    assert "run creditdesk init-db" in messages(checks)["schema"] and "calendar" not in statuses(checks)
