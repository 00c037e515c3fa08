"""Reminder ladders as configuration: the rules' default ladder, per-timer overrides, each rung sent
once on its working day (調休 and public holidays included), never twice for one (deadline, rung).

The repair case's department acceptance clock is the SLA clock used throughout: pushed on Tuesday
2026-04-28 with a 5-working-day budget it ends on Friday 05-08, across the Labour Day holiday
(05-01 to 05-05) and just before the make-up working Saturday 05-09.
"""
from __future__ import annotations

import dataclasses
import io
from datetime import date, datetime, timedelta

import pytest
from werkzeug.datastructures import FileStorage

from models import Case, Deadline, DeadlineReminder, OutboxMessage, User, db
from webapp.views.common import commit, save_upload
from workflows import deadlines as deadline_rules
from workflows.base import Rung, get_case_type
from workflows.clock import BEIJING
from workflows.service import fire, open_case
from workflows.sweep import sweep

SUBMIT = {"statement": "罚款已缴纳，违法建设已拆除", "signer_name": "李某", "commitment_accepted": True}
PUSHED_ON = datetime(2026, 4, 28, 9, 0, tzinfo=BEIJING)
LADDER = [
    {"offset_wd": -3, "audience": "responsible"},
    {"offset_wd": -1, "audience": "responsible"},
    {"offset_wd": 0, "audience": "responsible"},
    {"offset_wd": 1, "audience": "department_head"},
    {"offset_wd": 2, "audience": "department_head"},
]


@pytest.fixture
def rule_overrides():
    return {"repair.acceptance_wd": 5, "reminders.ladder": LADDER}


@pytest.fixture
def app_config(app_config, rule_overrides):
    return {**app_config, "RULE_OVERRIDES": rule_overrides}


def user(name: str) -> User:
    return db.session.execute(db.select(User).where(User.username == name)).scalar_one()


def pushed_case(runtime, clock) -> Case:
    clock.set(PUSHED_ON)
    enterprise = user("enterprise")
    case = open_case("credit_repair", enterprise.subjects[0], enterprise, {"record_id": 1}, runtime=runtime)
    save_upload(case, "fulfilment_proof", FileStorage(io.BytesIO(b"%PDF-1.4"), "r.pdf"), enterprise, runtime)
    fire(case, "submit", enterprise, SUBMIT, runtime=runtime)
    fire(case, "push", user("window"), {}, runtime=runtime)
    commit()
    return case


def deadline_of(case: Case, kind: str) -> Deadline:
    return next(d for d in case.deadlines if d.kind == kind)


def reminders_of(deadline: Deadline) -> dict[str, date]:
    rows = db.session.execute(db.select(DeadlineReminder).where(DeadlineReminder.deadline_id == deadline.id))
    return {r.rung: r.sent_at.astimezone(BEIJING).date() for r in rows.scalars()}


def reminder_rows(deadline: Deadline) -> list[OutboxMessage]:
    return list(db.session.execute(
        db.select(OutboxMessage).where(OutboxMessage.dedupe_key.like(f"reminder:{deadline.id}:%"),
                                       OutboxMessage.channel == "inapp").order_by(OutboxMessage.id)
    ).scalars())


def test_each_rung_fires_once_on_its_working_day_across_the_holiday(ctx, demo, runtime, clock):
    case = pushed_case(runtime, clock)
    acceptance = deadline_of(case, "acceptance")
    assert acceptance.due_on == date(2026, 5, 8)
    schedule = deadline_rules.reminder_schedule(acceptance, runtime.calendar(db.session), runtime.rules)
    # T-3 WD of Friday 05-08 is Thursday 04-30 (05-01..05 are holidays); the first working day after
    # the due day is the make-up working Saturday 05-09; +2 WD skips Sunday to Monday 05-11.
    assert [(rung, when.astimezone(BEIJING).date()) for rung, when in schedule] == [
        ("T-3", date(2026, 4, 30)), ("T-1", date(2026, 5, 7)), ("due", date(2026, 5, 8)),
        ("overdue", date(2026, 5, 9)), ("overdue+1", date(2026, 5, 9)), ("overdue+2", date(2026, 5, 11)),
    ]

    first_seen: dict[str, date] = {}
    day = date(2026, 4, 28)
    while day <= date(2026, 5, 13):
        for hour, minute in ((0, 1), (9, 0), (23, 59)):
            clock.set(datetime(day.year, day.month, day.day, hour, minute, tzinfo=BEIJING))
            sweep(db.session, runtime, commit=commit)
            outbox_after_first = db.session.query(OutboxMessage).count()
            # A second sweeper at the same moment finds nothing left to send.
            again = sweep(db.session, runtime, commit=commit)
            assert (again.reminders, again.escalations, again.fired) == (0, 0, 0), (day, hour)
            assert db.session.query(OutboxMessage).count() == outbox_after_first
            for rung in reminders_of(acceptance):
                first_seen.setdefault(rung, day)
        day += timedelta(days=1)

    assert first_seen == {"T-3": date(2026, 4, 30), "T-1": date(2026, 5, 7), "due": date(2026, 5, 8),
                          "overdue": date(2026, 5, 9), "overdue+1": date(2026, 5, 9),
                          "overdue+2": date(2026, 5, 11)}
    assert reminders_of(acceptance) == first_seen  # recorded when sent, never re-recorded

    reviewer, head = user("reviewer").id, user("head").id
    sent = [(m.context["rung"], m.recipient_user_id) for m in reminder_rows(acceptance)]
    # Before and on the due day: the responsible department's reviewers (the head is one of them);
    # after it: the department head alone. Each (rung, recipient) once.
    assert sorted(sent) == sorted([
        ("T-3", reviewer), ("T-3", head), ("T-1", reviewer), ("T-1", head), ("due", reviewer), ("due", head),
        ("overdue+1", head), ("overdue+2", head),
    ])
    texts = {m.context["rung"]: m.title for m in reminder_rows(acceptance)}
    assert texts["due"].startswith("办理提醒：今天是办理期限的最后一天")
    assert texts["overdue+2"].startswith("办理提醒：已超过办理期限2个工作日")
    assert "2 working days overdue" in texts["overdue+2"]
    escalations = db.session.execute(db.select(OutboxMessage).where(
        OutboxMessage.event == "deadline-overdue", OutboxMessage.case_id == case.id,
        OutboxMessage.channel == "inapp")).scalars().all()
    assert len({m.recipient_user_id for m in escalations}) == len(escalations) and head in {
        m.recipient_user_id for m in escalations}
    assert acceptance.next_action_at is None  # every rung handled: never claimed again


def test_a_late_sweep_sends_only_the_latest_rung_and_the_expiry_before_the_rungs_after_it(ctx, demo, runtime,
                                                                                            clock):
    case = pushed_case(runtime, clock)
    acceptance = deadline_of(case, "acceptance")
    clock.set(datetime(2026, 5, 7, 10, 0, tzinfo=BEIJING))  # the sweeper was down since 04-28
    sweep(db.session, runtime, commit=commit)
    assert reminders_of(acceptance) == {"T-3": date(2026, 5, 7), "T-1": date(2026, 5, 7)}
    assert {m.context["rung"] for m in reminder_rows(acceptance)} == {"T-1"}
    clock.set(datetime(2026, 5, 12, 10, 0, tzinfo=BEIJING))  # down again over the due day
    sweep(db.session, runtime, commit=commit)
    assert acceptance.escalated_at is not None
    assert set(reminders_of(acceptance)) == {"T-3", "T-1", "due", "overdue", "overdue+1", "overdue+2"}
    # "Due today" is not sent after the expiry; of the rungs after it, only the latest.
    assert [m.context["rung"] for m in reminder_rows(acceptance)].count("due") == 0
    assert {m.context["rung"] for m in reminder_rows(acceptance)} == {"T-1", "overdue+2"}


@pytest.mark.parametrize("rule_overrides", [{
    "reminders.ladders": {"credit_repair.acceptance": [{"offset_wd": -2, "audience": "department_head"}]},
}])
def test_a_rules_override_for_one_timer_kind_changes_only_that_timer(ctx, demo, runtime, clock, rule_overrides):
    clock.set(datetime(2026, 4, 13, 9, 0, tzinfo=BEIJING))
    enterprise = user("enterprise")
    case = open_case("credit_repair", enterprise.subjects[0], enterprise, {"record_id": 1}, runtime=runtime)
    save_upload(case, "fulfilment_proof", FileStorage(io.BytesIO(b"%PDF-1.4"), "r.pdf"), enterprise, runtime)
    fire(case, "submit", enterprise, SUBMIT, runtime=runtime)
    fire(case, "push", user("window"), {}, runtime=runtime)
    commit()
    calendar = runtime.calendar(db.session)
    acceptance, result = deadline_of(case, "acceptance"), deadline_of(case, "result")
    # Acceptance due 04-16 (3 WD): only T-2 (04-14) to the head; the result clock keeps the default.
    assert [(r, w.date()) for r, w in deadline_rules.reminder_schedule(acceptance, calendar, runtime.rules)][:1] == [
        ("T-2", date(2026, 4, 14))]
    assert [r for r, _ in deadline_rules.reminder_schedule(acceptance, calendar, runtime.rules)] == ["T-2", "overdue"]
    assert [r for r, _ in deadline_rules.reminder_schedule(result, calendar, runtime.rules)] == [
        "T-3", "T-1", "overdue"]
    clock.set(datetime(2026, 4, 14, 9, 0, tzinfo=BEIJING))
    sweep(db.session, runtime, commit=commit)
    assert [(m.context["rung"], m.recipient_user_id) for m in reminder_rows(acceptance)] == [
        ("T-2", user("head").id)]
    assert reminder_rows(result) == []


def test_a_timer_declared_ladder_applies_unless_the_rules_override_it(ctx, demo, runtime, clock, monkeypatch):
    repair = get_case_type("credit_repair")
    timers = [dataclasses.replace(t, ladder=(Rung(-2), Rung(0, "department_head"))) if t.kind == "result" else t
              for t in repair.timers]
    monkeypatch.setattr(repair, "timers", timers)
    case = pushed_case(runtime, clock)
    calendar = runtime.calendar(db.session)
    result, acceptance = deadline_of(case, "result"), deadline_of(case, "acceptance")
    assert [r for r, _ in deadline_rules.reminder_schedule(result, calendar, runtime.rules)] == [
        "T-2", "due", "overdue"]
    # The other timer keeps the rules' ladder (this module's five rungs).
    assert [r for r, _ in deadline_rules.reminder_schedule(acceptance, calendar, runtime.rules)] == [
        "T-3", "T-1", "due", "overdue", "overdue+1", "overdue+2"]
    overridden = runtime.rules["reminders.ladders"] | {"credit_repair.result": [-1]}
    monkeypatch.setitem(runtime.rules._values, "reminders.ladders", overridden)
    assert [r for r, _ in deadline_rules.reminder_schedule(result, calendar, runtime.rules)] == ["T-1", "overdue"]


def test_an_invalid_rung_is_refused_loudly():
    with pytest.raises(ValueError, match="invalid reminder rung"):
        deadline_rules.parse_ladder([{"audience": "department_head"}])
    assert deadline_rules.parse_ladder([-1, {"offset_wd": -3}, 2]) == (Rung(-3), Rung(-1), Rung(2))
    assert [r.name for r in deadline_rules.parse_ladder([-3, 0, 1])] == ["T-3", "due", "overdue+1"]
