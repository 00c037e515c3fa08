"""The SMS, webhook and e-mail channels against real local servers started by the tests.

An HTTP server in a thread on a free port plays the SMS gateway (it keeps every request and, like a
real gateway, sends each message `id` once) and the department systems' webhook receivers; an
aiosmtpd server receives the e-mails. Outbox rows are written by `notify.queue` (or by a step
through the API) and delivered with `deliver_now`, the function behind the Celery task, or the
eager task itself.
"""
from __future__ import annotations

import io
import json
import socket
import threading
from datetime import datetime
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from local_servers import smtp_serving
from models import Case, OutboxMessage, Subject, User, db
from notifications.channels import channel_settings
from notifications.sms import SMS_MAX_CHARS, SmsChannel, sms_text
from notifications.tasks import deliver, deliver_now
from notifications.webhook import WebhookChannel, sign, verify_signature
from workflows import notify
from workflows.clock import BEIJING
from webapp.views.common import commit, save_upload
from workflows.service import fire, open_case
from workflows.sweep import sweep

pytestmark = pytest.mark.smtp

PHONE = "+8613800138000"
SECRET = "law-enforcement-shared-secret"
TOKEN = "gateway-token-123"
CLERK = "clerk@demo-building.example.cn"
SUBMIT = {"statement": "罚款已缴纳，违法建设已拆除", "signer_name": "李某", "commitment_accepted": True}


class Recorder:
    """What the local HTTP server saw; `responses` are the statuses it answers with, in order."""

    def __init__(self):
        self.requests: list[dict] = []
        self.responses: list[int] = []
        self.sms_sent: dict[int, dict] = {}  # gateway-side idempotency: one text per message id
        self.lock = threading.Lock()

    def on(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the http.server API
        recorder: Recorder = self.server.recorder  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with recorder.lock:
            recorder.requests.append({"path": self.path, "headers": self.headers, "body": body})
            status = recorder.responses.pop(0) if recorder.responses else 200
            if status == 200 and self.path == "/sms":
                payload = json.loads(body)
                recorder.sms_sent.setdefault(payload["id"], payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        answer = json.dumps({"status": status}).encode()
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.recorder = Recorder()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - the aiosmtpd API
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    with smtp_serving(Mailbox()) as mailbox:
        yield mailbox


@pytest.fixture
def channels_configured():
    return True


@pytest.fixture
def app_config(app_config, http_server, smtp, channels_configured):
    config = {**app_config, "SMTP_URL": f"smtp://127.0.0.1:{smtp.port}?from=desk@credit.example.cn",
              "CREDITDESK_BASE_URL": "https://credit.wendeng.example.cn", "NOTIFICATION_HTTP_TIMEOUT": 1}
    if channels_configured:
        config.update({
            "SMS_GATEWAY_URL": f"{http_server.url}/sms", "SMS_GATEWAY_TOKEN": TOKEN,
            "WEBHOOK_URLS": json.dumps({"law-enforcement": f"{http_server.url}/hooks/law-enforcement"}),
            "WEBHOOK_SECRET": SECRET,
        })
    return config


@pytest.fixture
def recorder(http_server) -> Recorder:
    return http_server.recorder


def user(name: str) -> User:
    return db.session.execute(select(User).where(User.username == name)).scalar_one()


def repair_case(runtime, record_id: int = 1) -> Case:
    enterprise = user("enterprise")
    enterprise.phone = PHONE
    case = open_case("credit_repair", db.session.get(Subject, 1), enterprise, {"record_id": record_id},
                     runtime=runtime)
    db.session.commit()
    return case


def queue(case: Case, runtime, event: str = "repair-approved", **extra) -> dict[str, OutboxMessage]:
    """Queue one notification to the applicant and commit without dispatching: {channel: row}."""
    rows = notify.queue(db.session, case, event=event, audience=("applicant",),
                        title_zh=extra.pop("title_zh", f"信用修复申请已通过（{case.reference}）"),
                        title_en=f"Repair approved ({case.reference})",
                        body_zh=f"案件 {case.reference} 的信用修复申请已通过。",
                        body_en=f"The repair application of case {case.reference} was approved.",
                        now=runtime.clock.now(), **extra)
    db.session.commit()
    return {m.channel: m for m in rows}


def config(app) -> dict:
    return channel_settings(app.config)


@pytest.mark.parametrize("channels_configured", [False])
def test_the_embedded_default_writes_no_sms_or_webhook_rows(ctx, demo, runtime, channels_configured):
    case = repair_case(runtime)
    assert set(queue(case, runtime)) == {"inapp", "email"}


def test_sms_goes_out_once_per_outbox_id(ctx, demo, runtime, recorder):
    case = repair_case(runtime)
    rows = queue(case, runtime)
    # The applicant has a phone and "repair-approved" is an SMS event; the department's system too.
    assert set(rows) == {"inapp", "email", "sms", "webhook"}
    sms = rows["sms"]
    assert (sms.recipient_address, sms.recipient_user_id) == (PHONE, user("enterprise").id)

    sms_id = sms.id
    # The eager task runs in a session of its own, and SQLite has one writer: end this transaction.
    db.session.commit()
    assert deliver.delay(sms_id).get() == "sent"  # the Celery task, with the app's channel settings
    assert deliver_now(sms_id, config(ctx)) == "sent"  # again: the outbox says sent, nothing is posted
    assert len(recorder.on("/sms")) == 1
    request = recorder.on("/sms")[0]
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["headers"]["Idempotency-Key"] == str(sms.id)
    payload = json.loads(request["body"])
    assert payload == {"to": PHONE, "text": f"信用修复申请已通过（{case.reference}）", "id": sms.id}
    row = db.session.get(OutboxMessage, sms.id)
    assert (row.status, row.attempts) == ("sent", 1)

    # A worker that died after the gateway answered and before its commit sends the row again:
    # the same id, so the gateway sends one text message.
    SmsChannel(f"{ctx.config['SMS_GATEWAY_URL']}", TOKEN).send(db.session, row, runtime.clock.now())
    assert [json.loads(r["body"])["id"] for r in recorder.on("/sms")] == [sms.id, sms.id]
    assert list(recorder.sms_sent) == [sms.id]


@pytest.mark.parametrize("failure", [500, 503, 429, "timeout"])
def test_a_gateway_failure_is_retried_then_sent(ctx, demo, runtime, recorder, failure, monkeypatch):
    case = repair_case(runtime)
    sms = queue(case, runtime)["sms"]
    settings = config(ctx)
    if failure == "timeout":
        # A gateway that accepts the connection and never answers.
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        settings["SMS_GATEWAY_URL"] = f"http://127.0.0.1:{silent.getsockname()[1]}/sms"
    else:
        recorder.responses = [failure]
    assert deliver_now(sms.id, settings) == "pending"
    row = db.session.get(OutboxMessage, sms.id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert (str(failure) in row.last_error) if failure != "timeout" else ("unreachable" in row.last_error)
    if failure == "timeout":
        silent.close()
        settings = config(ctx)
    assert deliver_now(sms.id, settings) == "sent"
    row = db.session.get(OutboxMessage, sms.id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert list(recorder.sms_sent) == [sms.id]


@pytest.mark.parametrize("refusal", [400, 404, 422])
def test_a_gateway_refusal_kills_the_row_at_once(ctx, demo, runtime, recorder, refusal):
    sms = queue(repair_case(runtime), runtime)["sms"]
    recorder.responses = [refusal]
    assert deliver_now(sms.id, config(ctx)) == "dead"
    row = db.session.get(OutboxMessage, sms.id)
    assert (row.status, row.attempts) == ("dead", 1)
    assert row.last_error.startswith(f"PermanentFailure: HTTP {refusal}")
    assert deliver_now(sms.id, config(ctx)) == "dead"
    assert len(recorder.on("/sms")) == 1 and recorder.sms_sent == {}


def test_sms_text_is_one_short_message_with_the_case_reference(ctx, demo, runtime):
    case = repair_case(runtime)
    long_title = "信用修复申请已通过，" + "请登录系统查看决定书并按要求办理后续事项" * 4 + f"（{case.reference}）"
    sms = queue(case, runtime, title_zh=long_title)["sms"]
    text = sms_text(sms)
    assert len(text) == SMS_MAX_CHARS and text.endswith(f"…（{case.reference}）")
    assert text.startswith("信用修复申请已通过，请登录系统")
    # Events outside `notifications.sms_events` (e.g. a submission) are not texted.
    assert "sms" not in queue(case, runtime, event="repair-submitted")


def test_webhooks_are_signed_and_delivered_once_per_outbox_id(ctx, demo, runtime, recorder):
    case = repair_case(runtime)
    hook = queue(case, runtime)["webhook"]
    assert (hook.recipient_address, hook.recipient_user_id) == ("law-enforcement", None)
    assert [deliver_now(hook.id, config(ctx)) for _ in range(2)] == ["sent", "sent"]
    received = recorder.on("/hooks/law-enforcement")
    assert len(received) == 1
    headers, body = received[0]["headers"], received[0]["body"]
    assert headers["X-CreditDesk-Delivery"] == str(hook.id)
    assert headers["X-CreditDesk-Event"] == "repair-approved"
    timestamp, signature = headers["X-CreditDesk-Timestamp"], headers["X-CreditDesk-Signature"]
    assert signature.startswith("sha256=") and signature == sign(SECRET, timestamp, body)
    assert verify_signature(SECRET, timestamp, body, signature, tolerance_s=300)
    event = json.loads(body)
    assert event["id"] == hook.id and event["event"] == "repair-approved"
    assert event["case"] == {"id": case.id, "reference": case.reference, "case_type": "credit_repair"}
    assert event["department"] == "law-enforcement"
    assert event["link"] == f"https://credit.wendeng.example.cn/cases/{case.id}"
    assert event["title_zh"] == f"信用修复申请已通过（{case.reference}）"

    # What a receiver must refuse: a changed body, another secret, a replayed old request.
    tampered = body.replace(b"repair-approved", b"repair-rejected")
    assert not verify_signature(SECRET, timestamp, tampered, signature, tolerance_s=300)
    assert not verify_signature("another-secret", timestamp, body, signature, tolerance_s=300)
    assert not verify_signature(SECRET, timestamp, body, signature, tolerance_s=300, now=int(timestamp) + 301)
    assert not verify_signature(SECRET, str(int(timestamp) + 1), body, signature, tolerance_s=300)
    assert not verify_signature(SECRET, timestamp, body, None, tolerance_s=300)

    # A re-send after a crash carries the same delivery id (receivers dedupe by it), newly signed.
    channel = WebhookChannel(config(ctx), "https://credit.wendeng.example.cn", wallclock=lambda: int(timestamp) + 60)
    channel.send(db.session, db.session.get(OutboxMessage, hook.id), runtime.clock.now())
    again = recorder.on("/hooks/law-enforcement")[1]
    assert again["headers"]["X-CreditDesk-Delivery"] == str(hook.id) and again["body"] == body
    assert again["headers"]["X-CreditDesk-Timestamp"] == str(int(timestamp) + 60)
    assert verify_signature(SECRET, again["headers"]["X-CreditDesk-Timestamp"], body,
                            again["headers"]["X-CreditDesk-Signature"], tolerance_s=300, now=int(timestamp) + 60)


def test_webhooks_go_only_to_departments_with_one_and_follow_the_status_rules(ctx, demo, runtime, recorder):
    market_case = repair_case(runtime, record_id=2)
    assert market_case.department.code == "market-regulation"
    assert "webhook" not in queue(market_case, runtime)  # no webhook configured for that department

    hook = queue(repair_case(runtime), runtime)["webhook"]
    recorder.responses = [502]
    assert deliver_now(hook.id, config(ctx)) == "pending"
    recorder.responses = [410]
    assert deliver_now(hook.id, config(ctx)) == "dead"
    row = db.session.get(OutboxMessage, hook.id)
    assert (row.status, row.attempts) == ("dead", 2) and "HTTP 410" in row.last_error


def test_a_step_through_the_api_reaches_the_departments_webhook(app, demo, api, recorder):
    enterprise = api.as_user("enterprise")
    created = enterprise.post("/api/v1/cases", json={"case_type": "credit_repair", "subject_id": 1,
                                                     "data": {"record_id": 1}})
    case_id = created.get_json()["id"]
    with app.app_context():
        user("enterprise").phone = PHONE
        db.session.commit()
    submitted = enterprise.post(f"/api/v1/cases/{case_id}/actions/submit", json={"data": SUBMIT})
    assert submitted.status_code == 200, submitted.get_json()
    received = recorder.on("/hooks/law-enforcement")
    # The submission, and the notices of the credit commitment it signs (a case of the same department).
    assert "repair-submitted" in [json.loads(r["body"])["event"] for r in received]
    assert all(verify_signature(SECRET, r["headers"]["X-CreditDesk-Timestamp"], r["body"],
                                r["headers"]["X-CreditDesk-Signature"], tolerance_s=300) for r in received)
    assert len({r["headers"]["X-CreditDesk-Delivery"] for r in received}) == len(received)
    with app.app_context():
        channels = {m.channel for m in db.session.execute(select(OutboxMessage)).scalars()}
        assert "sms" not in channels and "webhook" in channels  # a submission is not an SMS event
        assert {m.status for m in db.session.execute(select(OutboxMessage)).scalars()} == {"sent"}


def test_an_email_is_multipart_chinese_first_from_the_event_template(ctx, demo, runtime, smtp):
    case = repair_case(runtime)
    user("enterprise").email = CLERK
    reminder = queue(case, runtime, event="deadline-reminder",
                     title_zh=f"办理提醒：距办理期限还有1个工作日（{case.reference}）",
                     context={"rung": "T-1", "due_on": "2026-05-08"})["email"]
    plain = queue(case, runtime)["email"]
    assert deliver_now(reminder.id, config(ctx)) == "sent"
    assert deliver_now(plain.id, config(ctx)) == "sent"
    assert len(smtp.messages) == 2
    mail = smtp.messages[0]
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["Message-ID"] == f"<creditdesk-outbox-{reminder.id}@credit.example.cn>"
    text = mail.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    html = mail.get_body(preferencelist=("html",)).get_content()
    for body in (text, html.split("</head>", 1)[1]):
        # Chinese first, English after it; the reminder template adds the case and its time limit.
        assert body.index("办理提醒") < body.index("Repair approved") < body.index("查看案件 / View the case")
        assert body.index("办理期限：2026-05-08") < body.index("Repair approved") < body.index("ime limit: 2026-05-08")
        assert f"https://credit.wendeng.example.cn/cases/{case.id}" in body
    assert "<p" not in text and '<h2 lang="zh-CN">办理提醒' in html and '<h3 lang="en">Repair approved' in html
    assert "\n\n\n" not in text

    default = smtp.messages[1]
    default_text = default.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    assert default_text.startswith(f"信用修复申请已通过（{case.reference}）\n\n案件 {case.reference} 的信用修复申请已通过。")
    assert "办理期限" not in default_text  # the default template, not the reminder's
    assert default_text.index("信用修复申请已通过") < default_text.index("The repair application")


def test_sweep_reminders_reach_sms_and_the_department_webhook(ctx, demo, runtime, clock, recorder):
    """The sweep's reminder rungs use the same channels: SMS (an SMS event) and the webhook."""
    head = user("head")
    head.phone = "+8613900139000"
    enterprise = user("enterprise")
    case = open_case("credit_repair", db.session.get(Subject, 1), enterprise, {"record_id": 1}, runtime=runtime)
    save_upload(case, "fulfilment_proof", FileStorage(io.BytesIO(b"%PDF-1.4"), "r.pdf"), enterprise, runtime)
    fire(case, "submit", enterprise, SUBMIT, runtime=runtime)
    fire(case, "push", user("window"), {}, runtime=runtime)
    commit()
    clock.set(datetime(2026, 4, 15, 9, 0, tzinfo=BEIJING))  # T-1 WD of the acceptance clock (due 04-16)
    sweep(db.session, runtime, commit=commit)
    rows = db.session.execute(select(OutboxMessage).where(OutboxMessage.event == "deadline-reminder")).scalars().all()
    sms = [m for m in rows if m.channel == "sms"]
    assert [(m.recipient_address, m.status) for m in sms] == [("+8613900139000", "sent")]
    texts = [json.loads(r["body"])["text"] for r in recorder.on("/sms")]
    assert texts == [f"办理提醒：距办理期限还有1个工作日（{case.reference}）"]
    hooks = [json.loads(r["body"]) for r in recorder.on("/hooks/law-enforcement")]
    assert [(h["event"], h["context"]["rung"]) for h in hooks if h["event"] == "deadline-reminder"] == [
        ("deadline-reminder", "T-1")]
