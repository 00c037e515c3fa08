"""Fault: Redis (the broker) is stopped while cases are decided.

Every decision still commits, promptly: the publish after the commit fails within its timeout and
the outbox rows stay pending. When Redis is back on the same port (empty: it ran without
persistence), the periodic relay (`creditdesk sweep`, which the embedded sweeper and the Prefect
flow `sweep-deadlines` also run) hands the pending rows to the worker, which has reconnected by
itself, and each message is delivered once.
"""
from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models import InboxMessage, db

from conftest import outbox_rows, wait_until

pytestmark = [pytest.mark.celery_worker, pytest.mark.smtp]

SUBMIT = {"statement": "罚款已缴纳，违法建设已拆除", "signer_name": "李某", "commitment_accepted": True}


@pytest.fixture
def broker_url(redis_server):
    return redis_server.url


@pytest.fixture
def smtp_url(mailbox):
    return mailbox.url


def test_decisions_commit_while_redis_is_down_and_their_messages_go_out_when_it_is_back(
        app, demo, api, clock, redis_server, mailbox, workers):
    workers.start()
    enterprise, window, reviewer = api.as_user("enterprise"), api.as_user("window"), api.as_user("reviewer")

    # Before the outage: the worker delivers as usual.
    case_id = enterprise.post("/api/v1/cases", json={"case_type": "credit_repair", "subject_id": 1,
                                                     "data": {"record_id": 1}}).get_json()["id"]
    uploaded = enterprise.post(f"/api/v1/cases/{case_id}/attachments", data={
        "material_key": "fulfilment_proof", "file": (io.BytesIO(b"%PDF-1.4 receipt"), "receipt.pdf")})
    assert uploaded.status_code == 201, uploaded.get_json()
    assert enterprise.post(f"/api/v1/cases/{case_id}/actions/submit", json={"data": SUBMIT}).status_code == 200
    wait_until(lambda: {m.status for m in outbox_rows(app)} == {"sent"}, "delivery before the outage",
               workers=workers)
    delivered_before = {m.id for m in outbox_rows(app)}
    assert len(mailbox.messages) == 1

    redis_server.stop()
    for client, trigger, state in [(window, "push", "pushed"), (reviewer, "accept", "under_review"),
                                   (reviewer, "approve", "syncing")]:
        started = time.monotonic()
        response = client.post(f"/api/v1/cases/{case_id}/actions/{trigger}", json={"data": {}})
        elapsed = time.monotonic() - started
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["state"] == state
        assert elapsed < 8, f"{trigger} took {elapsed:.1f} s with the broker down"

    waiting = [m for m in outbox_rows(app) if m.id not in delivered_before]
    assert {m.event for m in waiting} == {"repair-pushed", "repair-accepted", "repair-approved"}
    assert {(m.status, m.attempts) for m in waiting} == {("pending", 0)}
    runner = app.test_cli_runner()
    # The relay while Redis is still down: nothing is lost, nothing fails.
    clock.set(clock.now() + timedelta(minutes=1))
    down = runner.invoke(args=["sweep"])
    assert down.exit_code == 0, down.output
    assert "relayed=0" in down.output
    assert {m.status for m in outbox_rows(app) if m.id not in delivered_before} == {"pending"}

    redis_server.start()  # the same port, empty
    back = runner.invoke(args=["sweep"])
    assert back.exit_code == 0, back.output
    assert f"relayed={len(waiting)}" in back.output
    wait_until(lambda: {m.status for m in outbox_rows(app)} == {"sent"},
               "the reconnected worker to deliver the relayed messages", workers=workers, timeout=45)

    rows = outbox_rows(app)
    assert {m.attempts for m in rows} == {1}
    with app.app_context():
        inbox = db.session.execute(
            select(InboxMessage.outbox_id, func.count()).group_by(InboxMessage.outbox_id)).all()
        assert sorted(inbox) == sorted((m.id, 1) for m in rows if m.channel == "inapp")
    emails = sorted(m.id for m in rows if m.channel == "email")
    received = sorted(int(mail["Message-ID"].split("-outbox-")[1].split("@")[0]) for mail in mailbox.messages)
    assert len(emails) >= 4 and received == emails  # each e-mail once
