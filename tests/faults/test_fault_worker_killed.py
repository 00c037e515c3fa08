"""Fault: the Celery worker is killed with SIGKILL in the middle of a delivery.

The SMTP server holds the e-mail's DATA command until released, so the worker is provably inside
`notifications.deliver` when it is killed: it has acknowledged nothing (acks_late) and committed
nothing. Redis keeps the task in its unacked set; after the (here short) visibility timeout the
restarted worker gets it again and delivers it. The message arrives exactly once, and every other
row of the same decision is delivered once too.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import InboxMessage, db

from conftest import outbox_rows, wait_until

pytestmark = [pytest.mark.celery_worker, pytest.mark.smtp]

SUBMIT = {"statement": "罚款已缴纳，违法建设已拆除", "signer_name": "李某", "commitment_accepted": True}
CLERK = "clerk@demo-building.example.cn"
VISIBILITY_TIMEOUT_S = 2


@pytest.fixture
def broker_url(redis_server):
    return redis_server.url


@pytest.fixture
def smtp_url(mailbox):
    return mailbox.url


@pytest.fixture
def worker_settings():
    return {"CREDITDESK_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_S)}


def test_a_worker_killed_mid_delivery_delivers_exactly_once_after_restart(app, demo, api, redis_server,
                                                                            mailbox, workers):
    mailbox.hold_next()
    enterprise = api.as_user("enterprise")
    case_id = enterprise.post("/api/v1/cases", json={"case_type": "credit_repair", "subject_id": 1,
                                                     "data": {"record_id": 1}}).get_json()["id"]
    submitted = enterprise.post(f"/api/v1/cases/{case_id}/actions/submit", json={"data": SUBMIT})
    assert submitted.status_code == 200, submitted.get_json()
    # The worker starts after the request: on SQLite a delivery holds the database's write lock
    # while it talks to the SMTP server, and the held message would block the request's reads.
    first = workers.start()

    # The worker is inside the SMTP transaction of the e-mail row (the server has not said 250).
    assert mailbox.held.wait(timeout=30), "the worker never reached the SMTP server"
    broker = redis_server.client()
    assert broker.hlen("unacked") == 1  # taken, not acknowledged: acks_late
    workers.kill(first)
    mailbox.release()

    rows = outbox_rows(app)
    email = next(m for m in rows if m.channel == "email")
    assert (email.status, email.attempts, email.sent_at) == ("pending", 0, None)
    assert mailbox.messages == []

    workers.start()
    wait_until(lambda: {m.status for m in outbox_rows(app)} == {"sent"}, "the restarted worker to deliver",
               workers=workers)

    rows = outbox_rows(app)
    assert len(rows) == 4  # applicant in-app + e-mail, window in-app, the commitment's notice
    assert [m.attempts for m in rows] == [1, 1, 1, 1]  # the killed attempt left no trace
    assert len(mailbox.messages) == 1
    mail = mailbox.messages[0]
    assert mail["To"] == CLERK
    assert mail["Message-ID"].startswith(f"<creditdesk-outbox-{email.id}@")
    assert len(mailbox.attempts) == 2  # the interrupted DATA, then the delivery
    with app.app_context():
        inbox = db.session.execute(
            select(InboxMessage.outbox_id, func.count()).group_by(InboxMessage.outbox_id)).all()
        assert sorted(inbox) == sorted((m.id, 1) for m in rows if m.channel == "inapp")
    # Acknowledged (just after the commit that marked the rows sent): nothing left to re-deliver.
    wait_until(lambda: broker.hlen("unacked") == 0 and broker.llen("celery") == 0, "the broker to drain",
               workers=workers)
    broker.close()
