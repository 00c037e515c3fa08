"""A real Celery worker on Redis delivers what a committed decision promised.

The test starts `celery -A webapp.celery_worker worker -P solo` as a subprocess on the same
database as the test's app (a shared SQLite file, or PostgreSQL when CREDITDESK_TEST_DATABASE_URL
is set) and a Redis database of its own, drives a repair case through the API, and polls the
database until the worker has marked every outbox row sent. Eager mode is no substitute for this
(STYLE.md): here the task crosses a real broker into another process and another app context.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import redis
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from local_servers import missing_prerequisite
from models import InboxMessage, OutboxMessage, db
from notifications.outbox import dispatch

pytestmark = pytest.mark.celery_worker

REPO_ROOT = Path(__file__).resolve().parents[2]
#: A Redis database of the test's own (flushed before and after); .ci/run starts Redis on 6379.
BROKER_URL = os.environ.get("CREDITDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
DEADLINE_S = 30
CLERK = "clerk@demo-building.example.cn"
SUBMIT = {"statement": "罚款已缴纳，违法建设已拆除", "signer_name": "李某", "commitment_accepted": True}


@pytest.fixture
def redis_db():
    """The test's Redis database, flushed. Without Redis: skip locally, fail in CI."""
    client = redis.Redis.from_url(BROKER_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
        error = None
    except redis.RedisError as exc:
        error = exc
    if error is not None:
        where = client.connection_pool.connection_kwargs
        reason = f"Redis not reachable on {where['host']}:{where['port']}: .ci/run starts it ({error})"
        missing_prerequisite(reason)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp():
    mailbox = Mailbox()
    with socket.socket() as sock:  # a free port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    mailbox.url = f"smtp://127.0.0.1:{controller.port}?from=desk@credit.wendeng.example.cn"
    yield mailbox
    controller.stop()


@pytest.fixture
def app_config(app_config, redis_db):
    # The test's app publishes to the broker (no eager mode); the worker delivers.
    return {**app_config, "CELERY_BROKER_URL": BROKER_URL}


@pytest.fixture
def worker(app, app_config, database_url, redis_db, smtp, tmp_path):
    """The worker subprocess, on the test's database and broker; stopped (and shown on failure)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": BROKER_URL,
        "CREDITDESK_INSTANCE": str(tmp_path / "worker-instance"),
        "SECRET_KEY": app_config["SECRET_KEY"],
        "SMTP_URL": smtp.url,
    }
    log_path = tmp_path / "worker.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webapp.celery_worker", "worker", "-P", "solo",
         "--concurrency", "1", "-Q", "celery", "-n", f"creditdesk-test-{os.getpid()}@%h",
         "--without-mingle", "--without-gossip", "--without-heartbeat", "--loglevel", "INFO"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    process.log_path = log_path
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()
    # Captured output is shown only when the test fails: then the worker's log is in the report.
    sys.stderr.write(f"----- celery worker (exit {process.returncode}) -----\n")
    sys.stderr.write(log_path.read_text(errors="replace"))


def wait_until(condition: Callable[[], bool], worker, what: str) -> None:
    """Poll the database (the worker is another process) until `condition` or the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return
        if worker.poll() is not None:
            pytest.fail(f"the worker exited with {worker.returncode} while waiting for {what}:\n"
                        + worker.log_path.read_text(errors="replace"))
        time.sleep(0.1)
    pytest.fail(f"timed out after {DEADLINE_S} s waiting for {what}:\n" + worker.log_path.read_text(errors="replace"))


def statuses(app) -> dict[int, str]:
    with app.app_context():
        rows = db.session.execute(select(OutboxMessage.id, OutboxMessage.status)).all()
        db.session.rollback()  # a fresh snapshot at every poll
        return dict(rows)


def test_a_real_worker_delivers_the_outbox_once(app, demo, api, worker, smtp):
    assert app.extensions["celery"].conf.task_always_eager is False
    enterprise = api.as_user("enterprise")
    created = enterprise.post("/api/v1/cases", json={"case_type": "credit_repair", "subject_id": 1,
                                                     "data": {"record_id": 1}})
    case_id = created.get_json()["id"]
    submitted = enterprise.post(f"/api/v1/cases/{case_id}/actions/submit", json={"data": SUBMIT})
    assert submitted.status_code == 200, submitted.get_json()

    first = statuses(app)
    # repair: applicant in-app + e-mail, window in-app; its linked commitment: "signed" to the window
    assert len(first) == 4
    wait_until(lambda: set(statuses(app).values()) == {"sent"}, worker, "the worker to send the outbox")

    with app.app_context():
        inbox = db.session.execute(select(InboxMessage.outbox_id)).scalars().all()
        assert sorted(inbox) == sorted(
            m.id for m in db.session.execute(select(OutboxMessage)).scalars() if m.channel == "inapp")
    assert [m["To"] for m in smtp.messages] == [CLERK]
    assert smtp.messages[0].get_body(preferencelist=("html",)) is not None

    # The same ids again (a relay racing a slow worker): the worker skips them. A later step's rows
    # queue behind them on the solo worker, so once those are sent the duplicates were handled.
    with app.app_context():
        dispatch(sorted(first), db.session)
    window = api.as_user("window")
    returned = window.post(f"/api/v1/cases/{case_id}/actions/return_for_supplement",
                           json={"data": {"missing": ["fulfilment_proof"], "reason": "请上传罚款缴纳凭证"}})
    assert returned.status_code == 200, returned.get_json()
    wait_until(lambda: len(statuses(app)) > 3 and set(statuses(app).values()) == {"sent"}, worker,
               "the second step's outbox")
    with app.app_context():
        assert db.session.execute(select(func.count(InboxMessage.id))).scalar_one() == sum(
            1 for m in db.session.execute(select(OutboxMessage)).scalars() if m.channel == "inapp")
        assert {m.attempts for m in db.session.execute(select(OutboxMessage)).scalars()} == {1}
    assert len(smtp.messages) == 2  # submitted + returned, each once
