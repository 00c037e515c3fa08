"""The credit_repair machine: every allowed (state, trigger) reaches its target through fire(),
every other pair is refused with reasons, every guard passes and blocks with its reason, every
state is reachable and terminal states have no exits."""
from __future__ import annotations

import io
from collections import deque
from datetime import date, datetime

import pytest

from models import Case, CaseEvent, CreditRecord, Deadline, OutboxMessage, RepairApplication, User, db
from models.permissions import SYSTEM
from webapp.views.common import commit, save_upload
from workflows.base import get_case_type
from workflows.clock import BEIJING
from workflows.credit_repair import State
from workflows.errors import Forbidden, InvalidInput, NotFound, StaleVersion, TransitionNotAllowed, UnknownTrigger
from workflows.service import available_actions, fire, open_case

CT = get_case_type("credit_repair")
ALL_STATES = [s.value for s in State]
ALL_TRIGGERS = sorted(CT.triggers)
ALLOWED = {(src, s.trigger): s for s in CT.steps for src in s.source}

#: Valid input for every step that takes any.
INPUT = {
    "submit": {"statement": "罚款已缴纳，违法建设已拆除", "signer_name": "李某", "commitment_accepted": True},
    "return_for_supplement": {"missing": ["fulfilment_proof"], "reason": "请补充罚款缴纳凭证"},
    "not_accept": {"reason": "不属于可修复事项"},
    "extend": {"reason": "需现场核查"},
    "reject": {"reason": "未履行完毕法定义务"},
    "revoke": {"grounds": "broken_commitment", "reason": "再次发生同类违法行为"},
}

ACTOR_FOR = {"applicant": "enterprise", "window": "window", "department": "reviewer"}


def actor_for(step) -> User | object:
    perm = str(step.permission)
    if perm == "case:system":
        return SYSTEM
    username = {"case:applicant-act": "enterprise", "case:window-act": "window", "case:decide": "reviewer"}[perm]
    return db.session.execute(db.select(User).where(User.username == username)).scalar_one()


def user(name: str) -> User:
    return db.session.execute(db.select(User).where(User.username == name)).scalar_one()


def new_case(runtime, record_id: int = 1, *, with_proof: bool = True) -> Case:
    enterprise = user("enterprise")
    subject = db.session.get(CreditRecord, record_id).subject
    case = open_case("credit_repair", subject, enterprise, {"record_id": record_id}, runtime=runtime)
    if with_proof:
        from werkzeug.datastructures import FileStorage

        save_upload(case, "fulfilment_proof", FileStorage(io.BytesIO(b"%PDF-1.4 receipt"), "receipt.pdf"),
                    enterprise, runtime)
    commit()
    return case


def case_in(state: str, runtime) -> Case:
    """A case put in `state` by a legal path through fire() (shortest path from draft)."""
    path = shortest_path(state)
    case = new_case(runtime)
    for trigger in path:
        step = CT.step(trigger, case.state)
        fire(case, trigger, actor_for(step), INPUT.get(trigger, {}), runtime=runtime)
        commit()
    assert case.state == state
    return case


def shortest_path(target: str) -> list[str]:
    queue = deque([(str(CT.initial), [])])
    seen = {str(CT.initial)}
    while queue:
        state, path = queue.popleft()
        if state == target:
            return path
        for step in CT.steps_from(state):
            if step.target not in seen and not (step.is_system and step.target == "withdrawn"):
                seen.add(step.target)
                queue.append((step.target, path + [step.trigger]))
    # System-only targets (withdrawn via close_unsupplied is also reachable by withdraw).
    raise AssertionError(f"{target} unreachable")


# --- the table itself -------------------------------------------------------------------------

def test_every_state_is_reachable_from_draft():
    reachable = {str(CT.initial)}
    frontier = [str(CT.initial)]
    while frontier:
        state = frontier.pop()
        for step in CT.steps_from(state):
            if step.target not in reachable:
                reachable.add(step.target)
                frontier.append(step.target)
    assert reachable == set(ALL_STATES)


@pytest.mark.parametrize("state", [str(s) for s in CT.terminal])
def test_terminal_states_have_no_exits(state):
    assert CT.steps_from(state) == []


def test_machine_is_shared_and_leaves_no_model_bound():
    machine = CT.machine
    CT.apply("draft", "submit")
    assert CT.machine is machine
    assert machine.models == []


def test_every_case_records_its_definition_version(ctx, demo, runtime):
    case = new_case(runtime)
    assert case.definition_version == CT.version == 1
    assert case.events[0].trigger == "open" and case.events[0].to_state == "draft"


# --- every (state, trigger) pair --------------------------------------------------------------

@pytest.mark.parametrize("state,trigger", sorted(ALLOWED))
def test_allowed_pair_reaches_its_target(ctx, demo, runtime, clock, state, trigger):
    case = case_in(state, runtime)
    step = ALLOWED[(state, trigger)]
    if trigger in ("close_unsupplied", "close_monitoring"):
        clock.set(datetime(2028, 1, 1, 9, tzinfo=BEIJING))
    before = len(case.events)
    event = fire(case, trigger, actor_for(step), INPUT.get(trigger, {}), runtime=runtime)
    commit()
    assert case.state == step.target
    assert event.from_state == state and event.to_state == step.target
    assert len(case.events) == before + 1


REFUSED = [(s, t) for s in ALL_STATES for t in ALL_TRIGGERS if (s, t) not in ALLOWED]


@pytest.mark.parametrize("state,trigger", REFUSED)
def test_refused_pair_is_409_with_reasons(ctx, demo, runtime, state, trigger):
    case = case_in(state, runtime)
    step = CT.any_step(trigger)
    version = case.version
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, trigger, actor_for(step), INPUT.get(trigger, {}), runtime=runtime)
    db.session.rollback()
    assert info.value.http_status == 409
    assert info.value.details["reasons"] and info.value.details["state"] == state
    assert db.session.get(Case, case.id).state == state
    assert db.session.get(Case, case.id).version == version


def test_unknown_trigger_is_404(ctx, demo, runtime):
    case = new_case(runtime)
    with pytest.raises(UnknownTrigger) as info:
        fire(case, "teleport", user("enterprise"), {}, runtime=runtime)
    assert info.value.http_status == 404


@pytest.mark.parametrize("trigger,state,wrong_user", [
    ("submit", "draft", "window"),
    ("push", "submitted", "enterprise"),
    ("push", "submitted", "reviewer"),
    ("accept", "pushed", "window"),
    ("accept", "pushed", "market"),  # a reviewer of another department cannot even see the case
    ("approve", "under_review", "enterprise"),
    ("close_monitoring", "monitoring", "admin"),
])
def test_wrong_actor_is_refused(ctx, demo, runtime, trigger, state, wrong_user):
    case = case_in(state, runtime)
    with pytest.raises((Forbidden, NotFound)):
        fire(case, trigger, user(wrong_user), INPUT.get(trigger, {}), runtime=runtime)


def test_another_applicants_case_is_not_found(ctx, demo, runtime):
    case = new_case(runtime)
    with pytest.raises(NotFound):
        fire(case, "submit", user("person"), INPUT["submit"], runtime=runtime)


def test_stale_expected_version_is_409(ctx, demo, runtime):
    case = case_in("submitted", runtime)
    with pytest.raises(StaleVersion):
        fire(case, "push", user("window"), {}, runtime=runtime, expected_version=case.version - 1)
    fire(case, "push", user("window"), {}, runtime=runtime, expected_version=case.version)


@pytest.mark.parametrize("trigger,state,data,field", [
    ("submit", "draft", {"statement": "罚款已缴纳完毕", "signer_name": "李某", "commitment_accepted": False},
     "commitment_accepted"),
    ("submit", "draft", {"signer_name": "李某", "commitment_accepted": True}, "statement"),
    ("return_for_supplement", "submitted", {"missing": [], "reason": "x补正"}, "missing"),
    ("return_for_supplement", "submitted", {"missing": ["passport"], "reason": "x补正"}, "missing"),
    ("reject", "under_review", {}, "reason"),
    ("revoke", "monitoring", {"grounds": "bad luck", "reason": "事实"}, "grounds"),
])
def test_invalid_step_input_is_422_naming_the_field(ctx, demo, runtime, trigger, state, data, field):
    case = case_in(state, runtime)
    with pytest.raises(InvalidInput) as info:
        fire(case, trigger, actor_for(CT.step(trigger, state)), data, runtime=runtime)
    assert info.value.http_status == 422
    assert field in info.value.details["fields"]


# --- guards -----------------------------------------------------------------------------------

def test_guard_eligible_now_blocks_early_application_with_the_date(ctx, demo, runtime):
    serious = new_case(runtime, record_id=2)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(serious, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)
    assert any("2027-08-11" in r for r in info.value.details["reasons"])


def test_guard_eligible_now_passes_on_the_first_eligible_day(ctx, demo, runtime):
    case = new_case(runtime)  # S2: eligible 2026-04-13, the fixture clock's day
    fire(case, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)
    assert case.state == "submitted"


def test_saturday_application_is_deemed_received_monday_and_eligible(ctx, demo, runtime, clock):
    clock.set(datetime(2026, 4, 11, 9, tzinfo=BEIJING))  # Saturday before the first eligible Monday (C6)
    case = new_case(runtime)
    fire(case, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)
    assert db.session.get(RepairApplication, case.id).submitted_on == date(2026, 4, 13)
    assert next(d for d in case.deadlines if d.kind == "result").due_on == date(2026, 4, 27)


def test_guard_eligible_now_blocks_a_working_day_before(ctx, demo, runtime, clock):
    clock.set(datetime(2026, 4, 9, 9, tzinfo=BEIJING))  # Thursday, a working day before 04-13
    case = new_case(runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)
    assert any("2026-04-13" in r for r in info.value.details["reasons"])


def test_guard_no_other_open_repair(ctx, demo, runtime):
    first = case_in("submitted", runtime)
    second = new_case(runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(second, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)
    assert any(first.reference in r for r in info.value.details["reasons"])


def test_guard_materials_complete_blocks_push_listing_what_is_missing(ctx, demo, runtime):
    case = new_case(runtime, with_proof=False)
    fire(case, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "push", user("window"), {}, runtime=runtime)
    assert any("履行法定义务证明" in r for r in info.value.details["reasons"])


def test_guard_uploads_complete_blocks_resubmission_until_supplied(ctx, demo, runtime):
    case = new_case(runtime, with_proof=False)
    fire(case, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)
    fire(case, "return_for_supplement", user("window"), INPUT["return_for_supplement"], runtime=runtime)
    commit()
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "resubmit", user("enterprise"), {}, runtime=runtime)
    assert any("still missing" in r for r in info.value.details["reasons"])
    from werkzeug.datastructures import FileStorage

    save_upload(case, "fulfilment_proof", FileStorage(io.BytesIO(b"%PDF-1.7"), "r.pdf"), user("enterprise"), runtime)
    fire(case, "resubmit", user("enterprise"), {}, runtime=runtime)
    assert case.state == "submitted"


def test_guard_not_extended_before(ctx, demo, runtime):
    case = case_in("under_review", runtime)
    fire(case, "extend", user("reviewer"), INPUT["extend"], runtime=runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "extend", user("reviewer"), INPUT["extend"], runtime=runtime)
    assert any("extended once" in r for r in info.value.details["reasons"])


def test_serious_class_needs_a_credit_report(ctx, demo, runtime, clock):
    clock.set(datetime(2027, 8, 11, 9, tzinfo=BEIJING))
    runtime.calendar()  # 2027 is not loaded: applying needs working-day arithmetic
    case = new_case(runtime, record_id=2)
    from workflows.calendar import CalendarYearNotLoaded

    with pytest.raises(CalendarYearNotLoaded) as info:
        fire(case, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)
    assert info.value.year == 2027


# --- available actions drive every button ------------------------------------------------------

def test_available_actions_per_role(ctx, demo, runtime):
    case = case_in("submitted", runtime)
    assert {a.trigger for a in available_actions(case, user("window"), runtime=runtime)} == {
        "return_for_supplement", "push", "not_accept"}
    assert {a.trigger for a in available_actions(case, user("enterprise"), runtime=runtime)} == {"withdraw"}
    assert available_actions(case, user("person"), runtime=runtime) == []
    assert available_actions(case, user("auditor"), runtime=runtime) == []


def test_blocked_action_is_shown_disabled_with_its_reason(ctx, demo, runtime):
    case = new_case(runtime, with_proof=False)
    fire(case, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)
    push = next(a for a in available_actions(case, user("window"), runtime=runtime) if a.trigger == "push")
    assert not push.enabled and "履行法定义务证明" in push.reasons[0]


# --- effects ----------------------------------------------------------------------------------

def test_approval_repairs_the_record_and_plans_the_sync(ctx, demo, runtime):
    case = case_in("syncing", runtime)
    record = db.session.get(CreditRecord, 1)
    assert record.status == "repaired" and record.repaired_on == date(2026, 4, 13)
    app = db.session.get(RepairApplication, case.id)
    assert app.decision == "approved" and app.decided_by.username == "reviewer"
    sync = next(d for d in case.deadlines if d.kind == "sync")
    assert sync.status == "open" and sync.due_on == date(2026, 4, 16)


def _serious_record_of_2025() -> CreditRecord:
    first = db.session.get(CreditRecord, 1)
    record = CreditRecord(subject_id=first.subject_id, kind="dishonesty", severity="serious", title="旧案（严重）",
                          decided_on=date(2025, 9, 1), department_id=first.department_id, points=-50)
    db.session.add(record)
    commit()
    return record


def test_old_regime_applies_to_a_submission_before_2026_04_01(ctx, demo, runtime, clock):
    record = _serious_record_of_2025()
    clock.set(datetime(2026, 3, 31, 9, tzinfo=BEIJING))
    case = new_case(runtime, record_id=record.id)
    fire(case, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)  # 令58号: 6 M → eligible 2026-03-02
    app = db.session.get(RepairApplication, case.id)
    assert app.regime == "ndrc58" and app.submitted_on == date(2026, 3, 31)


def test_new_regime_applies_from_2026_04_01(ctx, demo, runtime, clock):
    record = _serious_record_of_2025()
    clock.set(datetime(2026, 4, 1, 9, tzinfo=BEIJING))
    case = new_case(runtime, record_id=record.id)
    with pytest.raises(TransitionNotAllowed) as info:  # 令36号: 1 Y → eligible 2026-09-02
        fire(case, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)
    assert any("2026-09-02" in r for r in info.value.details["reasons"])


def test_revocation_restores_publicity_bars_reapplication_and_records_the_breach(ctx, demo, runtime, clock):
    case = case_in("monitoring", runtime)
    clock.set(datetime(2026, 6, 1, 9, tzinfo=BEIJING))
    fire(case, "revoke", user("reviewer"), INPUT["revoke"], runtime=runtime)
    commit()
    record = db.session.get(CreditRecord, 1)
    assert record.status == "active" and record.repaired_on is None
    assert record.publicity_restarted_on == date(2026, 6, 1)
    assert record.repair_barred_until == date(2027, 6, 1)
    breach = db.session.execute(db.select(CreditRecord).where(CreditRecord.category == "commitment_breach")).scalar_one()
    assert breach.points == -10 and case.reference in breach.title
    # A new application is refused with the date it becomes possible again (bar: 1 Y; min period: 3 M).
    again = new_case(runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(again, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)
    assert any("2027-06-02" in r for r in info.value.details["reasons"])


def test_supplement_suspends_the_result_clock(ctx, demo, runtime, clock):
    case = new_case(runtime)
    fire(case, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)
    result = next(d for d in case.deadlines if d.kind == "result")
    assert result.due_on == date(2026, 4, 27)  # S2
    fire(case, "return_for_supplement", user("window"), INPUT["return_for_supplement"], runtime=runtime)
    assert result.status == "suspended" and result.due_on is None and result.due_at is None
    clock.set(datetime(2026, 4, 15, 10, tzinfo=BEIJING))
    fire(case, "resubmit", user("enterprise"), {}, runtime=runtime)
    # 04-14 and 04-15 are not counted: two working days later.
    assert result.status == "open" and result.due_on == date(2026, 4, 29)


def test_extension_adds_the_configured_working_days(ctx, demo, runtime):
    case = case_in("under_review", runtime)
    fire(case, "extend", user("reviewer"), INPUT["extend"], runtime=runtime)
    result = next(d for d in case.deadlines if d.kind == "result")
    assert result.due_on == date(2026, 5, 13)  # 04-27 + 10 WD over 劳动节 05-01..05 and make-up Sat 05-09
    assert result.extensions[0].reason == "需现场核查"


def test_return_for_supplement_lists_everything_missing_at_once(ctx, demo, runtime):
    case = new_case(runtime, with_proof=False)
    fire(case, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)
    fire(case, "return_for_supplement", user("window"),
         {"missing": ["fulfilment_proof", "credit_report"], "reason": "请一并补正"}, runtime=runtime)
    commit()
    event = case.events[-1]
    assert "履行法定义务证明" in event.reason and "信用报告" in event.reason
    notice = db.session.execute(db.select(OutboxMessage).where(OutboxMessage.event == "repair-returned")).scalars().first()
    assert "信用报告" in notice.body


# --- one transaction --------------------------------------------------------------------------

def test_failure_inside_fire_leaves_no_partial_state(ctx, demo, runtime, monkeypatch):
    case = case_in("under_review", runtime)
    counts = (db.session.query(CaseEvent).count(), db.session.query(OutboxMessage).count(),
              db.session.query(Deadline).count())

    def explode(ctx):
        raise RuntimeError("disk full")

    monkeypatch.setattr("workflows.deadlines.replan", explode)
    with pytest.raises(RuntimeError):
        fire(case, "approve", user("reviewer"), {}, runtime=runtime)
    db.session.rollback()
    fresh = db.session.get(Case, case.id)
    assert fresh.state == "under_review"
    assert db.session.get(CreditRecord, 1).status == "active"
    assert (db.session.query(CaseEvent).count(), db.session.query(OutboxMessage).count(),
            db.session.query(Deadline).count()) == counts


@pytest.mark.parametrize("severity,require_training,expected", [
    ("minor", False, ["application", "commitment", "fulfilment_proof"]),
    ("general", True, ["application", "commitment", "fulfilment_proof"]),
    ("serious", False, ["application", "commitment", "fulfilment_proof", "credit_report"]),
    ("serious", True, ["application", "commitment", "fulfilment_proof", "credit_report", "training_certificate"]),
])
def test_materials_checklist_per_class_and_configuration(severity, require_training, expected):
    from workflows.credit_repair import required_materials
    from workflows.rules import Rules

    rules = Rules({"repair.require_training_certificate_for_serious": require_training})
    assert [m.key for m in required_materials(severity, rules)] == expected


def test_unknown_rule_setting_is_refused():
    from workflows.rules import Rules

    with pytest.raises(KeyError, match="repair.extention_wd"):
        Rules({"repair.extention_wd": 5})
