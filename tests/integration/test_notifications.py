"""Notifications in the embedded default (Celery eager, in-process) with a real local SMTP server.

A decision driven through the API writes outbox rows in its transaction; the commit hands them to
`notifications.deliver`, which fills the in-app inbox and sends a multipart (text + HTML),
bilingual e-mail over SMTP. Delivery is idempotent by outbox id, failures count attempts until the
row is dead, a broker outage leaves rows pending without failing the decision, and a rolled-back
transaction dispatches nothing.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from email import message_from_bytes, policy

import pytest
from sqlalchemy import func, select

from local_servers import free_port, smtp_serving
from models import Case, InboxMessage, OutboxMessage, User, db
from notifications.outbox import commit_and_dispatch, dispatch, relay_pending
from notifications.tasks import MAX_ATTEMPTS, deliver, deliver_now
from workflows import notify
from workflows.clock import BEIJING

pytestmark = pytest.mark.smtp

CLERK = "clerk@demo-building.example.cn"
SENDER = "desk@credit.wendeng.example.cn"
SUBMIT = {"statement": "罚款已缴纳，违法建设已拆除", "signer_name": "李某", "commitment_accepted": True}


class Mailbox:
    """aiosmtpd handler: keeps every accepted message; refuses recipients listed in `reject`."""

    def __init__(self):
        self.messages: list[dict] = []
        self.reject: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "message": message_from_bytes(envelope.original_content, policy=policy.default),
        })
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    with smtp_serving(Mailbox()) as mailbox:
        yield mailbox


@pytest.fixture
def smtp_url(request, smtp):
    """The app's SMTP_URL: the live local server, or (param "refusing") a port nobody listens on."""
    if getattr(request, "param", "live") == "refusing":
        return f"smtp://127.0.0.1:{free_port()}?from={SENDER}"
    return f"smtp://127.0.0.1:{smtp.port}?from={SENDER}"


@pytest.fixture
def broker_url():
    return None  # eager, in-process delivery: the embedded default


@pytest.fixture
def app_config(app_config, smtp_url, broker_url):
    return {**app_config, "SMTP_URL": smtp_url, "CELERY_BROKER_URL": broker_url,
            "CREDITDESK_BASE_URL": "https://credit.wendeng.example.cn"}


def open_and_submit(api) -> tuple[object, dict]:
    enterprise = api.as_user("enterprise")
    created = enterprise.post("/api/v1/cases", json={"case_type": "credit_repair", "subject_id": 1,
                                                     "data": {"record_id": 1}})
    assert created.status_code in (200, 201), created.get_json()
    case_id = created.get_json()["id"]
    submitted = enterprise.post(f"/api/v1/cases/{case_id}/actions/submit", json={"data": SUBMIT})
    assert submitted.status_code == 200, submitted.get_json()
    assert submitted.get_json()["state"] == "submitted"
    return enterprise, submitted.get_json()


def outbox(event: str | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if event:
        query = query.where(OutboxMessage.event == event)
    return list(db.session.execute(query).scalars())


def user_id(username: str) -> int:
    return db.session.execute(select(User.id).where(User.username == username)).scalar_one()


def inbox_count() -> int:
    return db.session.execute(select(func.count(InboxMessage.id))).scalar_one()


def test_repair_steps_fill_the_inbox_and_send_a_bilingual_multipart_email(app, demo, api, smtp):
    enterprise, case = open_and_submit(api)
    reference = case["reference"]
    window = api.as_user("window")
    returned = window.post(f"/api/v1/cases/{case['id']}/actions/return_for_supplement",
                           json={"data": {"missing": ["fulfilment_proof"], "reason": "请上传罚款缴纳凭证"}})
    assert returned.status_code == 200, returned.get_json()

    with app.app_context():
        submitted = outbox("repair-submitted")
        # The applicant (in-app and e-mail, it has an address) and the credit center window (in-app).
        assert {(m.recipient_user_id, m.channel) for m in submitted} == {
            (user_id("enterprise"), "inapp"), (user_id("enterprise"), "email"), (user_id("window"), "inapp")}
        assert {m.status for m in outbox()} == {"sent"}, [(m.id, m.status, m.last_error) for m in outbox()]
        assert all(m.attempts == 1 and m.sent_at is not None for m in outbox())
        inbox = db.session.execute(select(InboxMessage).order_by(InboxMessage.id)).scalars().all()
        assert {(i.user_id, i.outbox_id) for i in inbox} == {
            (m.recipient_user_id, m.id) for m in outbox() if m.channel == "inapp"}
        email_row = next(m for m in submitted if m.channel == "email")
        expected_subject = email_row.title

    assert expected_subject == f"信用修复申请已提交（{reference}） / Repair application submitted ({reference})"
    assert [m["rcpt_tos"] for m in smtp.messages] == [[CLERK], [CLERK]]  # submitted, then returned
    received = smtp.messages[0]
    assert received["mail_from"] == SENDER
    mail = received["message"]
    assert mail["Subject"] == expected_subject
    assert mail["To"] == CLERK
    assert mail["From"].addresses[0].addr_spec == SENDER
    assert mail["Message-ID"] == f"<creditdesk-outbox-{email_row.id}@credit.wendeng.example.cn>"
    assert mail["Date"] is not None
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8"
    text_body, html_body = text.get_content(), html.get_content()
    for body in (text_body, html_body):
        assert f"案件 {reference}（威海文登示范建材有限公司）当前状态：已提交待预审。" in body
        assert f"Case {reference} (威海文登示范建材有限公司) is now: Submitted, awaiting precheck." in body
        assert f"https://credit.wendeng.example.cn/cases/{case['id']}" in body
    assert "<h2 lang=\"zh-CN\">信用修复申请已提交" in html_body
    assert "Repair application submitted" in html_body
    assert "<p" in html_body and "<p" not in text_body

    returned_mail = smtp.messages[1]["message"]
    assert returned_mail["Subject"].startswith(f"信用修复申请需补正材料（{reference}）")
    assert "请上传罚款缴纳凭证" in returned_mail.get_body(preferencelist=("plain",)).get_content()


def test_delivering_the_same_outbox_id_twice_delivers_once(app, demo, api, smtp):
    open_and_submit(api)
    with app.app_context():
        ids = [m.id for m in outbox()]
        inbox_before, mails_before = inbox_count(), len(smtp.messages)
        config = {"SMTP_URL": app.config["SMTP_URL"]}
        assert [deliver_now(i, config) for i in ids] == ["sent"] * len(ids)
        dispatch(ids, db.session)  # through Celery (eager) again
        assert deliver.delay(ids[0]).get() == "sent"
        assert deliver_now(10_000, config) == "missing"
        assert inbox_count() == inbox_before
        assert [m.attempts for m in outbox()] == [1] * len(ids)
    assert len(smtp.messages) == mails_before == 1


@pytest.mark.parametrize("broker_url", [f"redis://127.0.0.1:{free_port()}/0"], ids=["broker-down"])
def test_broker_down_commits_the_decision_and_leaves_rows_pending(app, demo, api, smtp, broker_url):
    assert app.extensions["celery"].conf.task_always_eager is False
    started = time.monotonic()
    enterprise, case = open_and_submit(api)
    elapsed = time.monotonic() - started
    # One failed publish (bounded by the broker timeouts) stops the dispatch loop: no hang.
    assert elapsed < 8, f"the request took {elapsed:.1f} s with the broker down"

    assert enterprise.get(f"/api/v1/cases/{case['id']}").get_json()["state"] == "submitted"
    with app.app_context():
        rows = outbox()
        assert rows and {(m.status, m.attempts) for m in rows} == {("pending", 0)}
        # The relay finds them once they are old enough, and still cannot publish: they wait.
        later = rows[0].created_at + timedelta(minutes=1)
        assert relay_pending(db.session, later) == 0
        assert {m.status for m in outbox()} == {"pending"}
        # Delivered by hand (what a worker does when the broker is back), twice: once.
        config = {"SMTP_URL": app.config["SMTP_URL"]}
        for _ in range(2):
            assert [deliver_now(m.id, config) for m in rows] == ["sent"] * len(rows)
        assert inbox_count() == sum(1 for m in rows if m.channel == "inapp")
    assert len(smtp.messages) == 1


@pytest.mark.parametrize("smtp_url", ["refusing"], indirect=True)
def test_an_unreachable_smtp_server_counts_attempts_until_the_row_is_dead(app, demo, runtime, smtp_url):
    with app.app_context():
        case = _any_case(app, runtime)
        rows = notify.queue(db.session, case, event="test-message", audience=("applicant",),
                            title_zh="测试", title_en="Test", body_zh="正文", body_en="Body",
                            now=runtime.clock.now())
        db.session.commit()  # a plain commit: nothing dispatched, the test delivers by hand
        email_id = next(m.id for m in rows if m.channel == "email")
        config = {"SMTP_URL": smtp_url}
        statuses = [deliver_now(email_id, config) for _ in range(MAX_ATTEMPTS)]
        assert statuses == ["pending"] * (MAX_ATTEMPTS - 1) + ["dead"]
        row = db.session.get(OutboxMessage, email_id)
        assert (row.status, row.attempts, row.sent_at) == ("dead", MAX_ATTEMPTS, None)
        assert row.last_error.startswith("ConnectionRefusedError")
        # A dead row is left alone.
        assert deliver_now(email_id, config) == "dead"
        assert db.session.get(OutboxMessage, email_id).attempts == MAX_ATTEMPTS


@pytest.mark.parametrize("smtp_url", ["refusing"], indirect=True)
def test_eager_delivery_failure_in_a_request_keeps_the_decision_and_the_relay_retries(app, demo, api, runtime):
    enterprise, case = open_and_submit(api)
    assert enterprise.get(f"/api/v1/cases/{case['id']}").get_json()["state"] == "submitted"
    with app.app_context():
        email = next(m for m in outbox() if m.channel == "email")
        assert (email.status, email.attempts) == ("pending", 1)
        assert email.last_error.startswith("ConnectionRefusedError")
        assert {m.status for m in outbox() if m.channel == "inapp"} == {"sent"}
        # Not yet due for a retry (backoff after one failure), then due.
        assert relay_pending(db.session, email.created_at + timedelta(seconds=40)) == 0
        assert relay_pending(db.session, email.created_at + timedelta(minutes=3)) == 1
        assert db.session.get(OutboxMessage, email.id).attempts == 2


def test_a_permanent_smtp_refusal_kills_the_row_at_once(app, demo, api, smtp):
    smtp.reject.add(CLERK)
    open_and_submit(api)
    with app.app_context():
        email = next(m for m in outbox() if m.channel == "email")
        assert (email.status, email.attempts) == ("dead", 1)
        assert "550" in email.last_error
    assert smtp.messages == []


def test_a_rolled_back_transaction_dispatches_nothing(app, demo, runtime, smtp):
    with app.app_context():
        case = _any_case(app, runtime)
        now = runtime.clock.now()
        notify.queue(db.session, case, event="test-message", audience=("applicant",), title_zh="回滚",
                     title_en="Rolled back", body_zh="正文", body_en="Body", now=now)
        db.session.flush()
        db.session.rollback()
        assert commit_and_dispatch(db.session) == []

        # A rolled-back SAVEPOINT drops its rows; the rest of the transaction is dispatched.
        with db.session.begin_nested() as savepoint:
            notify.queue(db.session, case, event="test-message", audience=("applicant",), title_zh="回滚",
                         title_en="Rolled back", body_zh="正文", body_en="Body", now=now)
            db.session.flush()
            savepoint.rollback()
        kept = notify.queue(db.session, case, event="test-kept", audience=("applicant",), title_zh="保留",
                            title_en="Kept", body_zh="正文", body_en="Body", now=now)
        db.session.flush()
        kept_ids = [m.id for m in kept]
        assert commit_and_dispatch(db.session) == kept_ids
        assert [(m.event, m.status) for m in outbox()] == [("test-kept", "sent")] * len(kept_ids)
    assert [m["message"]["Subject"] for m in smtp.messages] == ["保留 / Kept"]


def test_the_cli_sweep_delivers_reminders_in_process(app, demo, api, clock, smtp):
    """The embedded sweeper's commit dispatches eagerly too: reminders reach inbox and mailbox."""
    _enterprise, case = open_and_submit(api)
    window = api.as_user("window")
    window.post(f"/api/v1/cases/{case['id']}/actions/return_for_supplement",
                json={"data": {"missing": ["fulfilment_proof"], "reason": "请上传罚款缴纳凭证"}})
    mails_before = len(smtp.messages)
    clock.set(datetime(2026, 5, 14, 9, 0, tzinfo=BEIJING))  # the 30-day supplement period ended 05-13
    result = app.test_cli_runner().invoke(args=["sweep"])
    assert result.exit_code == 0, result.output
    assert "fired=1" in result.output
    with app.app_context():
        assert db.session.get(Case, case["id"]).state == "withdrawn"
        lapsed = outbox("repair-lapsed")
        assert lapsed and {m.status for m in lapsed} == {"sent"}
        assert {m.status for m in outbox()} == {"sent"}
    subjects = [m["message"]["Subject"] for m in smtp.messages[mails_before:]]
    assert any(s.startswith("补正期满，申请视为撤回") for s in subjects), subjects


def _any_case(app, runtime) -> Case:
    """A draft repair case of the demo enterprise, opened directly through the engine."""
    from models import Subject
    from workflows.service import open_case

    enterprise = db.session.execute(select(User).where(User.username == "enterprise")).scalar_one()
    subject = db.session.get(Subject, 1)
    case = open_case("credit_repair", subject, enterprise, {"record_id": 1}, runtime=runtime)
    db.session.commit()
    return case
