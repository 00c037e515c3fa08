"""The deadline sweep (reminder ladder, escalation, expiry triggers, idempotence) and the CLI."""
from __future__ import annotations

import io
import json
from datetime import date, datetime
from pathlib import Path

from werkzeug.datastructures import FileStorage

from models import Case, CaseEvent, DeadlineReminder, OutboxMessage, User, db
from webapp.views.common import commit, save_upload
from workflows.clock import BEIJING
from workflows.service import fire, open_case
from workflows.sweep import sweep

REPO = Path(__file__).resolve().parents[2]
SUBMIT = {"statement": "罚款已缴纳，违法建设已拆除", "signer_name": "李某", "commitment_accepted": True}


def user(name):
    return db.session.execute(db.select(User).where(User.username == name)).scalar_one()


def pushed_case(runtime) -> Case:
    enterprise = user("enterprise")
    case = open_case("credit_repair", enterprise.subjects[0], enterprise, {"record_id": 1}, runtime=runtime)
    save_upload(case, "fulfilment_proof", FileStorage(io.BytesIO(b"%PDF-1.4"), "r.pdf"), enterprise, runtime)
    fire(case, "submit", enterprise, SUBMIT, runtime=runtime)
    fire(case, "push", user("window"), {}, runtime=runtime)
    commit()
    return case


def at(y, m, d, h=9):
    return datetime(y, m, d, h, tzinfo=BEIJING)


def test_reminder_ladder_and_escalation_each_once(ctx, demo, runtime, clock):
    case = pushed_case(runtime)  # acceptance due 2026-04-16 (3 WD), result due 2026-04-27
    acceptance = next(d for d in case.deadlines if d.kind == "acceptance")
    assert acceptance.due_on == date(2026, 4, 16)
    clock.set(at(2026, 4, 14))  # T-1 WD of the acceptance clock is 04-15; T-3 (04-13) is not after the start
    sweep(db.session, runtime, commit=commit)
    assert {r.rung for r in acceptance.reminders} == set()
    clock.set(at(2026, 4, 15))
    sweep(db.session, runtime, commit=commit)
    assert {r.rung for r in acceptance.reminders} == {"T-1"}
    clock.set(at(2026, 4, 17))  # the day after the due day: overdue
    first = sweep(db.session, runtime, commit=commit)
    again = sweep(db.session, runtime, commit=commit)
    assert first.escalations == 1 and again.escalations == 0 and again.reminders == 0
    assert {r.rung for r in acceptance.reminders} == {"T-1", "overdue"}
    overdue = db.session.execute(db.select(OutboxMessage).where(OutboxMessage.event == "deadline-overdue",
                                                                OutboxMessage.channel == "inapp")).scalars().all()
    assert user("head").id in {m.recipient_user_id for m in overdue}
    assert acceptance.escalated_at is not None and case.state == "pushed"
    result = next(d for d in case.deadlines if d.kind == "result")
    assert {r.rung for r in result.reminders} == set()  # T-3 WD of 04-27 is 04-22, T-1 is 04-24
    clock.set(at(2026, 4, 24))
    sweep(db.session, runtime, commit=commit)
    assert {r.rung for r in result.reminders} == {"T-3", "T-1"}
    # (The linked commitment's publication clock has rungs of its own; count this case's.)
    assert db.session.query(DeadlineReminder).join(DeadlineReminder.deadline).filter_by(case_id=case.id).count() == 4


def test_sweep_on_a_quiet_day_does_nothing(ctx, demo, runtime):
    pushed_case(runtime)
    result = sweep(db.session, runtime, commit=commit)
    assert (result.claimed, result.fired, result.reminders, result.escalations) == (0, 0, 0, 0)


def test_cli_commands(app, demo, tmp_path, clock):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["init-db"]).exit_code == 0
    out = runner.invoke(args=["seed-demo"])
    assert out.exit_code == 0 and "enterprise" in out.output
    created = runner.invoke(args=["users", "create", "--username", "clerk2", "--password", "s3cret-pass",
                                  "--role", "applicant", "--subject", "91371081MA3DEM001R"])
    assert created.exit_code == 0, created.output
    with app.app_context():
        assert [s.name for s in user("clerk2").subjects] == ["威海文登示范建材有限公司"]
        assert user("clerk2").check_password("s3cret-pass")
    reviewer_without_department = runner.invoke(args=["users", "create", "--username", "r2", "--password",
                                                      "s3cret-pass", "--role", "reviewer"])
    assert reviewer_without_department.exit_code != 0 and "department" in reviewer_without_department.output
    missing = runner.invoke(args=["calendar", "show", "2027"])
    assert missing.exit_code != 0 and "2027" in missing.output
    loaded = runner.invoke(args=["calendar", "load", str(REPO / "workflows/data/holidays-2027.example.json")])
    assert loaded.exit_code == 0, loaded.output
    shown = runner.invoke(args=["calendar", "show", "2027"])
    assert shown.exit_code == 0 and "2027-01-01" in shown.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"year": 2028, "rest_days": ["2027-12-31"], "makeup_workdays": []}))
    refused = runner.invoke(args=["calendar", "load", str(bad)])
    assert refused.exit_code != 0 and "2027-12-31" in refused.output
    assert "sweep" in runner.invoke(args=["sweep"]).output


def test_simulate_advances_the_clock_and_fires_on_the_right_day(app, demo, clock):
    with app.app_context():
        runtime = app.extensions["creditdesk"]
        case = pushed_case(runtime)
        enterprise = user("enterprise")
        other = open_case("credit_repair", enterprise.subjects[0], enterprise, {"record_id": 1}, runtime=runtime)
        commit()
        case_id = case.id
        other_id = other.id
    runner = app.test_cli_runner()
    result = runner.invoke(args=["simulate", "--until", "2026-04-20"])
    assert result.exit_code == 0, result.output
    # 04-17: the acceptance clock (due Thu 04-16) is escalated; the commitment's publication clock
    # (7 WD, due 04-22) gets its T-3 reminder the same day.
    assert "2026-04-17: fired=0 reminders=1 escalations=1" in result.output
    with app.app_context():
        assert db.session.get(Case, case_id).state == "pushed"
        assert db.session.get(Case, other_id).state == "draft"


def test_verify_ledger_detects_tampering(app, demo):
    with app.app_context():
        pushed_case(app.extensions["creditdesk"])
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["verify-ledger"])
    assert ok.exit_code == 0 and "0 problems" in ok.output
    with app.app_context():
        event = db.session.execute(db.select(CaseEvent).where(CaseEvent.trigger == "submit")).scalar_one()
        event.payload = {**event.payload, "statement": "篡改 / forged"}
        db.session.commit()
    bad = runner.invoke(args=["verify-ledger"])
    assert bad.exit_code == 1 and "does not match its hash" in bad.output


def _returned_case(runtime) -> Case:
    enterprise = user("enterprise")
    case = open_case("credit_repair", enterprise.subjects[0], enterprise, {"record_id": 1}, runtime=runtime)
    fire(case, "submit", enterprise, SUBMIT, runtime=runtime)
    fire(case, "return_for_supplement", user("window"), {"missing": ["fulfilment_proof"], "reason": "请补正"},
         runtime=runtime)
    commit()
    return case


def test_a_failed_expiry_is_escalated_and_retried_not_dropped(ctx, demo, runtime, clock, monkeypatch):
    case = _returned_case(runtime)
    supplement = next(d for d in case.deadlines if d.kind == "supplement")
    clock.set(at(2026, 5, 14))

    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr("workflows.sweep.fire", broken)
    failed = sweep(db.session, runtime, commit=commit)
    # Escalated: the failed expiry, and the linked commitment's publication clock (due 04-22).
    assert failed.fired == 0 and len(failed.errors) == 1 and failed.escalations == 2
    assert supplement.escalated_at is not None
    assert "overdue" not in {r.rung for r in supplement.reminders}
    assert supplement.next_action_at == at(2026, 5, 14, 10)  # retried an hour later
    monkeypatch.undo()
    clock.set(at(2026, 5, 14, 10))
    retried = sweep(db.session, runtime, commit=commit)
    assert retried.fired == 1 and db.session.get(Case, case.id).state == "withdrawn"


def test_a_clock_stopped_when_the_case_ends_is_cancelled_not_met(ctx, demo, runtime, clock):
    case = _returned_case(runtime)
    clock.set(at(2026, 5, 14))
    sweep(db.session, runtime, commit=commit)
    result = next(d for d in case.deadlines if d.kind == "result")
    assert case.state == "withdrawn"
    assert result.status == "cancelled" and result.suspensions[0].until_on == date(2026, 5, 14)
    assert next(d for d in case.deadlines if d.kind == "supplement").status == "expired"
