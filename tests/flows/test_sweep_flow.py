"""The `sweep-deadlines` flow, run for real against a Prefect test server.

The Prefect server is the session's one harness (tests/flows/conftest.py). The flow builds its own app from the environment
(DATABASE_URL, CREDITDESK_CLOCK) exactly as a deployment does; the test moves both its own fixed
clock and CREDITDESK_CLOCK, so the flow sees the time the test sees.
"""
from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from models import Case, CaseEvent, Deadline, DeadlineReminder, InboxMessage, OutboxMessage, User, db
from workflows import deadlines as deadline_rules
from workflows.clock import BEIJING

pytestmark = pytest.mark.prefect

SUBMIT = {"statement": "罚款已缴纳，违法建设已拆除", "signer_name": "李某", "commitment_accepted": True}


@pytest.fixture
def run_flow(prefect_server, database_url, clock, monkeypatch):
    """Run the flow for real at the test's clock: `run_flow()` returns the flow's result."""
    from workflows.flows.sweep_deadlines import sweep_deadlines

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)

    def run(**parameters):
        monkeypatch.setenv("CREDITDESK_CLOCK", clock.now().isoformat())
        return sweep_deadlines(**parameters)

    return run


def act(api_user, case_id: int, trigger: str, data: dict | None = None) -> dict:
    response = api_user.post(f"/api/v1/cases/{case_id}/actions/{trigger}", json={"data": data or {}})
    assert response.status_code == 200, (trigger, response.get_json())
    return response.get_json()


def open_submitted_case(api, *, with_proof: bool = False) -> tuple[object, int]:
    enterprise = api.as_user("enterprise")
    created = enterprise.post("/api/v1/cases", json={"case_type": "credit_repair", "subject_id": 1,
                                                     "data": {"record_id": 1}})
    assert created.status_code in (200, 201), created.get_json()
    case_id = created.get_json()["id"]
    if with_proof:
        uploaded = enterprise.post(f"/api/v1/cases/{case_id}/attachments", data={
            "material_key": "fulfilment_proof", "file": (io.BytesIO(b"%PDF-1.4 receipt"), "receipt.pdf")})
        assert uploaded.status_code == 201, uploaded.get_json()
    act(enterprise, case_id, "submit", SUBMIT)
    return enterprise, case_id


def deadline(case_id: int, kind: str) -> Deadline:
    return db.session.execute(
        select(Deadline).where(Deadline.case_id == case_id, Deadline.kind == kind).order_by(Deadline.id.desc())
    ).scalars().first()


def rungs(deadline_id: int) -> list[str]:
    return sorted(db.session.execute(
        select(DeadlineReminder.rung).where(DeadlineReminder.deadline_id == deadline_id)).scalars())


def users(*usernames: str) -> dict[str, int]:
    rows = db.session.execute(select(User.username, User.id).where(User.username.in_(usernames))).all()
    return dict(rows)


def test_an_unsupplied_application_lapses_once(app, demo, api, clock, run_flow):
    enterprise, case_id = open_submitted_case(api)
    act(api.as_user("window"), case_id, "return_for_supplement",
        {"missing": ["fulfilment_proof"], "reason": "请上传罚款缴纳凭证"})
    with app.app_context():
        supplement = deadline(case_id, "supplement")
        assert (supplement.unit, supplement.budget, supplement.due_on.isoformat()) == ("cd", 30, "2026-05-13")
        supplement_id = supplement.id

    clock.set(datetime(2026, 5, 14, 9, 0, tzinfo=BEIJING))
    first = run_flow()
    assert first["fired"] == 1
    assert first["claimed"] >= 1 and not first["errors"]

    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.state == "withdrawn"
        last = db.session.execute(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq.desc())).scalars().first()
        assert (last.trigger, last.from_state, last.to_state, last.actor_role) == (
            "close_unsupplied", "returned_for_supplement", "withdrawn", "system")
        assert db.session.get(Deadline, supplement_id).status == "expired"
        # The sweep came late: the overtaken reminder rungs are recorded but not sent.
        assert rungs(supplement_id) == ["T-1", "T-3", "overdue"]
        lapsed = db.session.execute(
            select(OutboxMessage).where(OutboxMessage.event == "repair-lapsed")).scalars().all()
        assert {(m.recipient_user_id, m.channel) for m in lapsed} == {
            (users("enterprise")["enterprise"], "inapp"), (users("enterprise")["enterprise"], "email")}
        reminders = db.session.execute(
            select(OutboxMessage).where(OutboxMessage.event == "deadline-reminder")).scalars().all()
        assert reminders == []
        # Committed, then delivered in-process (no broker configured).
        assert {m.status for m in lapsed} == {"sent"}
        outbox_count = db.session.execute(select(OutboxMessage.id)).scalars().all()

    second = run_flow()
    assert (second["claimed"], second["fired"], second["reminders"], second["escalations"]) == (0, 0, 0, 0)
    with app.app_context():
        assert db.session.execute(select(OutboxMessage.id)).scalars().all() == outbox_count
        assert db.session.get(Case, case_id).version == case.version


def test_sla_reminders_once_each_and_the_head_gets_the_escalation(app, demo, api, clock, runtime, run_flow):
    _enterprise, case_id = open_submitted_case(api, with_proof=True)
    act(api.as_user("window"), case_id, "push")
    with app.app_context():
        result = deadline(case_id, "result")
        acceptance = deadline(case_id, "acceptance")
        # DOMAIN.md S2: submitted 2026-04-13, the result is due 10 WD later, acceptance 3 WD later.
        assert result.due_on.isoformat() == "2026-04-27"
        assert acceptance.due_on.isoformat() == "2026-04-16"
        result_id, acceptance_id = result.id, acceptance.id
        calendar = runtime.calendar(db.session)
        schedule = deadline_rules.reminder_schedule(result, calendar, runtime.rules)
        acceptance_schedule = deadline_rules.reminder_schedule(acceptance, calendar, runtime.rules)
        assert [rung for rung, _ in schedule] == ["T-3", "T-1", "overdue"]
        ids = users("reviewer", "head")

    nothing = run_flow()
    assert (nothing["claimed"], nothing["reminders"]) == (0, 0)

    # Acceptance: its T-1 rung, then the overdue escalation to the head (no expiry trigger).
    for rung, when in acceptance_schedule:
        clock.set(max(clock.now(), when + timedelta(minutes=1)))
        outcome = run_flow()
        assert outcome["claimed"] >= 1, (rung, outcome)
    # Result: each rung at its time, and every run repeated: nothing is sent twice.
    for rung, when in schedule:
        clock.set(max(clock.now(), when + timedelta(minutes=1)))
        outcome = run_flow()
        assert outcome["reminders"] + outcome["escalations"] >= 1, (rung, outcome)
        again = run_flow()
        assert (again["claimed"], again["reminders"], again["escalations"]) == (0, 0, 0), (rung, again)

    with app.app_context():
        assert rungs(result_id) == ["T-1", "T-3", "overdue"]
        assert rungs(acceptance_id) == ["T-1", "overdue"]
        assert db.session.get(Deadline, result_id).escalated_at is not None
        assert db.session.get(Case, case_id).state == "pushed"  # an SLA deadline fires nothing
        rows = db.session.execute(select(OutboxMessage).where(
            OutboxMessage.event.in_(("deadline-reminder", "deadline-overdue")))).scalars().all()
        keys = [m.dedupe_key for m in rows]
        assert len(keys) == len(set(keys))
        # Reminders go to the department's reviewers, once per rung and reviewer.
        for rung in ("T-3", "T-1"):
            assert sorted(m.recipient_user_id for m in rows
                          if m.dedupe_key.startswith(f"reminder:{result_id}:{rung}:")) == sorted(ids.values())
        # The repair's own clocks (the linked commitment's publication clock escalates on its own).
        overdue = [m for m in rows if m.event == "deadline-overdue"
                   and m.dedupe_key.split(":")[1] in (str(result_id), str(acceptance_id))]
        head_overdue = {m.dedupe_key for m in overdue if m.recipient_user_id == ids["head"]}
        assert head_overdue == {f"overdue:{result_id}:{ids['head']}:inapp",
                                f"overdue:{acceptance_id}:{ids['head']}:inapp"}
        head_inbox = db.session.execute(select(InboxMessage.title).where(
            InboxMessage.user_id == ids["head"])).scalars().all()
        assert sum(title.startswith("超期督办") and "CN-" not in title for title in head_inbox) == 2
        assert {m.status for m in rows} == {"sent"}
