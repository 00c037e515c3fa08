"""Fault: the SMTP server refuses the e-mail.

A real worker delivers a decision's messages; the SMTP server answers the e-mail's DATA with
temporary refusals (451). The worker retries with a growing backoff (here scaled down by
CREDITDESK_RETRY_BACKOFF) and, after the last retry — or at once on a permanent refusal (550) —
marks the row dead with its error. The administrator sees the dead row on /admin and retries it
once the server accepts mail again; it is then delivered once.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models import OutboxMessage, db
from notifications.tasks import MAX_ATTEMPTS

from conftest import outbox_rows, wait_until
from page_client import Browser

pytestmark = [pytest.mark.celery_worker, pytest.mark.smtp]

SUBMIT = {"statement": "罚款已缴纳，违法建设已拆除", "signer_name": "李某", "commitment_accepted": True}
BACKOFF_S = 0.3


@pytest.fixture
def broker_url(redis_server):
    return redis_server.url


@pytest.fixture
def smtp_url(mailbox):
    return mailbox.url


@pytest.fixture
def worker_settings():
    return {"CREDITDESK_RETRY_BACKOFF": str(BACKOFF_S)}


def submit_repair(api) -> int:
    enterprise = api.as_user("enterprise")
    case_id = enterprise.post("/api/v1/cases", json={"case_type": "credit_repair", "subject_id": 1,
                                                     "data": {"record_id": 1}}).get_json()["id"]
    submitted = enterprise.post(f"/api/v1/cases/{case_id}/actions/submit", json={"data": SUBMIT})
    assert submitted.status_code == 200, submitted.get_json()
    return case_id


def settled(app) -> bool:
    return "pending" not in {m.status for m in outbox_rows(app)}


def assert_backoff(attempts: list[float]) -> None:
    """Retry n waits at least half of BACKOFF_S * 2**n (jitter never goes below half)."""
    gaps = [later - earlier for earlier, later in zip(attempts, attempts[1:])]
    for n, gap in enumerate(gaps):
        assert gap >= 0.5 * BACKOFF_S * 2 ** n - 0.02, (n, gaps)
    if len(gaps) >= 3:  # the third retry's least wait is above the first's longest
        assert gaps[-1] > gaps[0], gaps


def test_temporary_refusals_are_retried_with_backoff_until_the_row_is_dead_and_the_admin_retries_it(
        app, demo, api, mailbox, workers):
    mailbox.refuse = [451] * MAX_ATTEMPTS
    workers.start()
    submit_repair(api)
    wait_until(lambda: settled(app), "the worker to give up on the e-mail", workers=workers)

    rows = outbox_rows(app)
    email = next(m for m in rows if m.channel == "email")
    assert (email.status, email.attempts, email.sent_at) == ("dead", MAX_ATTEMPTS, None)
    assert "451" in email.last_error
    assert {m.status for m in rows if m.channel == "inapp"} == {"sent"}
    assert len(mailbox.attempts) == MAX_ATTEMPTS and mailbox.messages == []
    assert_backoff(mailbox.attempts)

    # The administrator sees it, with its error, and queues it again once mail flows.
    admin = Browser(app)
    assert admin.login("admin").status_code == 302
    page = admin.get("/admin").get_data(as_text=True)
    row = re.search(rf'<tr data-testid="outbox-{email.id}">(.*?)</tr>', page, re.S)
    assert row, page
    assert "dead" in row.group(1) and "451" in row.group(1) and "repair-submitted" in row.group(1)
    assert re.search(r'data-testid="outbox-dead">1<', page)

    assert mailbox.refuse == []  # the server accepts mail again
    retried = admin.post_form("/admin", f"/admin/outbox/{email.id}/retry", {})
    assert retried.status_code == 302
    wait_until(lambda: settled(app), "the worker to deliver the retried e-mail", workers=workers)
    with app.app_context():
        row = db.session.get(OutboxMessage, email.id)
        assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert len(mailbox.messages) == 1
    page = admin.get("/admin").get_data(as_text=True)
    assert re.search(r'data-testid="outbox-dead">0<', page)
    assert f'data-testid="outbox-{email.id}"' not in page

    # Only a dead row can be retried.
    again = admin.post_form("/admin", f"/admin/outbox/{email.id}/retry", {}, follow_redirects=True)
    assert "不是发送失败状态" in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(OutboxMessage, email.id).status == "sent"
    assert len(mailbox.messages) == 1


def test_a_permanent_refusal_after_temporary_ones_ends_the_retries_at_once(app, demo, api, mailbox, workers):
    mailbox.refuse = [451, 451, 550]
    workers.start()
    submit_repair(api)
    wait_until(lambda: settled(app), "the worker to give up on the e-mail", workers=workers)

    email = next(m for m in outbox_rows(app) if m.channel == "email")
    assert (email.status, email.attempts) == ("dead", 3)
    assert "550" in email.last_error
    assert len(mailbox.attempts) == 3 and mailbox.messages == []
    assert_backoff(mailbox.attempts)

    admin = Browser(app)
    admin.login("admin")
    page = admin.get("/admin").get_data(as_text=True)
    assert f'data-testid="outbox-retry-{email.id}"' in page and "550" in page


def test_only_an_administrator_may_retry_and_only_a_dead_message(app, demo, api):
    case_id = submit_repair(api)  # no worker: the rows wait in the broker
    with app.app_context():
        email = db.session.execute(select(OutboxMessage).where(OutboxMessage.channel == "email")).scalar_one()
        email.status, email.attempts, email.last_error = "dead", MAX_ATTEMPTS, "SMTPDataError: (451, b'later')"
        db.session.commit()
        email_id = email.id

    window = Browser(app)
    window.login("window")
    refused = window.post_form(f"/cases/{case_id}", f"/admin/outbox/{email_id}/retry", {})
    assert refused.status_code == 403
    admin = Browser(app)
    admin.login("admin")
    assert admin.post_form("/admin", "/admin/outbox/999999/retry", {}).status_code == 404
    with app.app_context():
        assert db.session.get(OutboxMessage, email_id).status == "dead"
