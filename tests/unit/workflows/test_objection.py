"""The objection machine: every allowed (state, trigger) reaches its target through fire(),
every other pair is refused with reasons, every guard passes and blocks with its reason, every
state is reachable, terminal states have no exits, and the effects (label, correction) hold."""
from __future__ import annotations

from collections import deque
from datetime import date, datetime

import pytest

from models import Case, CreditRecord, ObjectionApplication, User, db
from models.permissions import SYSTEM
from webapp.views.common import commit
from workflows.base import get_case_type
from workflows.clock import BEIJING
from workflows.objection import OBJECTION, State
from workflows.errors import Forbidden, InvalidInput, NotFound, StaleVersion, TransitionNotAllowed, UnknownTrigger
from workflows.service import fire, open_case

CT = OBJECTION
ALL_STATES = [s.value for s in State]
ALL_TRIGGERS = sorted(CT.triggers)
ALLOWED = {(src, s.trigger): s for s in CT.steps for src in s.source}

#: Valid input for every step that takes any.
INPUT = {
    "submit": {"statement": "该处罚决定已被复议撤销，记录应删除"},
    "return_for_supplement": {"reason": "请补充营业执照复印件"},
    "not_accept": {"reason": "非本主体信息"},
    "route_to_provider": {"letter": "请核查该处罚记录是否已被撤销"},
    "uphold": {"correction": "delete", "reason": "处罚决定已撤销"},
    "partly_uphold": {"description": "罚款金额更正为五千元", "reason": "金额有误"},
    "reject": {"reason": "处罚决定合法有效"},
    "unresolved": {"reason": "原始卷宗缺失，无法确认"},
}


def user(name: str) -> User:
    return db.session.execute(db.select(User).where(User.username == name)).scalar_one()


def actor_for(step) -> User | object:
    perm = str(step.permission)
    if perm == "case:system":
        return SYSTEM
    return user({"case:applicant-act": "enterprise", "case:window-act": "window", "case:decide": "reviewer"}[perm])


def new_case(runtime, record_id: int = 1, username: str = "enterprise") -> Case:
    applicant = user(username)
    subject = db.session.get(CreditRecord, record_id).subject
    case = open_case("objection", subject, applicant, {"record_id": record_id, "grounds": "inaccurate"},
                     runtime=runtime)
    commit()
    return case


def shortest_path(target: str) -> list[str]:
    queue = deque([(str(CT.initial), [])])
    seen = {str(CT.initial)}
    while queue:
        state, path = queue.popleft()
        if state == target:
            return path
        for step in CT.steps_from(state):
            if step.target not in seen:
                seen.add(step.target)
                queue.append((step.target, path + [step.trigger]))
    raise AssertionError(f"{target} unreachable")


def drive(case: Case, path: list[str], runtime) -> Case:
    for trigger in path:
        step = CT.step(trigger, case.state)
        fire(case, trigger, actor_for(step), INPUT.get(trigger, {}), runtime=runtime)
        commit()
    return case


def case_in(state: str, runtime) -> Case:
    case = drive(new_case(runtime), shortest_path(state), runtime)
    assert case.state == state
    return case


def record1() -> CreditRecord:
    return db.session.get(CreditRecord, 1)


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


def test_registered_with_prefix_and_version():
    assert get_case_type("objection") is CT
    assert CT.reference_prefix == "YY" and CT.version == 1


def test_machine_is_shared_and_leaves_no_model_bound():
    machine = CT.machine
    CT.apply("draft", "submit")
    assert CT.machine is machine
    assert machine.models == []


def test_open_records_the_provider_as_department(ctx, demo, runtime):
    case = new_case(runtime)
    assert case.reference.startswith("YY-")
    assert case.department_id == record1().department_id
    assert case.events[0].trigger == "open" and case.events[0].to_state == "draft"
    assert db.session.get(ObjectionApplication, case.id).grounds == "inaccurate"


def test_another_subjects_record_is_not_found(ctx, demo, runtime):
    company = db.session.get(CreditRecord, 1).subject
    with pytest.raises(NotFound):
        open_case("objection", company, user("enterprise"), {"record_id": 4, "grounds": "inaccurate"},
                  runtime=runtime)


# --- every (state, trigger) pair --------------------------------------------------------------

@pytest.mark.parametrize("state,trigger", sorted(ALLOWED))
def test_allowed_pair_reaches_its_target(ctx, demo, runtime, state, trigger):
    case = case_in(state, runtime)
    step = ALLOWED[(state, trigger)]
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
    ("accept", "submitted", "enterprise"),
    ("accept", "submitted", "reviewer"),
    ("route_to_provider", "accepted", "reviewer"),
    ("uphold", "in_house_review", "reviewer"),
    ("uphold", "provider_verifying", "window"),
    ("uphold", "provider_verifying", "market"),  # another department cannot even see the case
    ("notify", "decided_rejected", "enterprise"),
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
        fire(case, "accept", user("window"), {}, runtime=runtime, expected_version=case.version - 1)
    fire(case, "accept", user("window"), {}, runtime=runtime, expected_version=case.version)


@pytest.mark.parametrize("trigger,state,data,field", [
    ("submit", "draft", {}, "statement"),
    ("return_for_supplement", "submitted", {}, "reason"),
    ("route_to_provider", "accepted", {}, "letter"),
    ("uphold", "in_house_review", {"correction": "move"}, "correction"),
    ("uphold", "in_house_review", {"correction": "correct"}, "title"),
    ("partly_uphold", "in_house_review", {"correction": "delete", "description": "x", "reason": "部分"}, "correction"),
    ("reject", "in_house_review", {}, "reason"),
    ("unresolved", "provider_verifying", {}, "reason"),
])
def test_invalid_step_input_is_422_naming_the_field(ctx, demo, runtime, trigger, state, data, field):
    case = case_in(state, runtime)
    with pytest.raises(InvalidInput) as info:
        fire(case, trigger, actor_for(CT.step(trigger, state)), data, runtime=runtime)
    assert info.value.http_status == 422
    assert field in info.value.details["fields"]


def test_open_without_grounds_is_422(ctx, demo, runtime):
    company = record1().subject
    with pytest.raises(InvalidInput) as info:
        open_case("objection", company, user("enterprise"), {"record_id": 1}, runtime=runtime)
    assert "grounds" in info.value.details["fields"]


# --- guards -----------------------------------------------------------------------------------

def test_guard_no_other_open_objection(ctx, demo, runtime):
    first = case_in("submitted", runtime)
    second = new_case(runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(second, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)
    assert any(first.reference in r for r in info.value.details["reasons"])


def test_guard_no_other_open_objection_passes_after_the_first_closes(ctx, demo, runtime):
    first = drive(new_case(runtime), ["submit", "accept", "review_in_house", "reject", "notify", "close"], runtime)
    assert first.state == "closed"
    second = new_case(runtime)
    fire(second, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)
    assert second.state == "submitted"


def test_guard_record_in_force_blocks_a_deleted_record(ctx, demo, runtime):
    case = new_case(runtime)
    record1().status = "revoked"
    commit()
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "submit", user("enterprise"), INPUT["submit"], runtime=runtime)
    assert any("已删除" in r for r in info.value.details["reasons"])


def test_guard_has_provider_blocks_a_record_without_provider(ctx, demo, runtime):
    case = case_in("accepted", runtime)
    case.department_id = None
    commit()
    with pytest.raises((TransitionNotAllowed, Forbidden)) as info:
        fire(case, "route_to_provider", user("window"), INPUT["route_to_provider"], runtime=runtime)
    assert any("提供单位" in r for r in info.value.details["reasons"])


# --- effects: the label, the correction, the clocks ---------------------------------------------

def test_label_from_acceptance_until_decision(ctx, demo, runtime):
    case = case_in("submitted", runtime)
    assert record1().under_objection is False
    drive(case, ["accept", "review_in_house"], runtime)
    assert record1().under_objection is True
    drive(case, ["reject"], runtime)
    assert record1().under_objection is False
    assert db.session.get(ObjectionApplication, case.id).decision_reason == "处罚决定合法有效"


@pytest.mark.parametrize("trigger", ["uphold", "partly_uphold", "reject", "unresolved"])
def test_every_decision_removes_the_label(ctx, demo, runtime, trigger):
    case = case_in("provider_verifying", runtime)
    assert record1().under_objection is True
    fire(case, trigger, user("reviewer"), INPUT[trigger], runtime=runtime)
    commit()
    assert record1().under_objection is False
    assert db.session.get(ObjectionApplication, case.id).outcome == OUTCOME[trigger]


OUTCOME = {"uphold": "upheld", "partly_uphold": "partly_upheld", "reject": "rejected", "unresolved": "unresolved"}


def test_upheld_deletion_revokes_the_record(ctx, demo, runtime):
    case_in("decided_upheld", runtime)
    assert record1().status == "revoked"


def test_upheld_correction_edits_the_record_and_opens_the_push_clock(ctx, demo, runtime):
    case = case_in("in_house_review", runtime)
    fire(case, "uphold", user("window"),
         {"correction": "correct", "title": "违法建设行政处罚（一般罚款）", "points": -10, "reason": "情节认定有误"},
         runtime=runtime)
    commit()
    record = record1()
    assert (record.title, record.points, record.status) == ("违法建设行政处罚（一般罚款）", -10, "active")
    push = next(d for d in case.deadlines if d.kind == "push_correction")
    assert push.status == "open" and push.due_on == date(2026, 4, 16)  # Mon 04-13 + 3 WD
    drive(case, ["notify", "close"], runtime)
    assert push.status == "met"


def test_rejection_leaves_the_record_unchanged(ctx, demo, runtime):
    case_in("decided_rejected", runtime)
    record = record1()
    assert (record.status, record.points) == ("active", -20)


def test_s7_decision_clock_3wd_then_7wd_with_provider(ctx, demo, runtime, clock):
    clock.set(datetime(2026, 1, 30, 10, tzinfo=BEIJING))  # DOMAIN §10 S7: Friday
    case = new_case(runtime)
    drive(case, ["submit"], runtime)
    decision = next(d for d in case.deadlines if d.kind == "decision")
    assert decision.due_on == date(2026, 2, 4)
    drive(case, ["accept", "route_to_provider"], runtime)
    assert decision.due_on == date(2026, 2, 10)
    assert decision.extensions[0].reason.startswith("需提供单位协查")
    provider = next(d for d in case.deadlines if d.kind == "provider_reply")
    assert provider.due_on == date(2026, 2, 5) and provider.responsible == "department"


def test_supplement_stops_the_clock(ctx, demo, runtime):
    case = case_in("returned_for_supplement", runtime)
    decision = next(d for d in case.deadlines if d.kind == "decision")
    assert decision.status == "suspended" and decision.due_on is None
    drive(case, ["resubmit"], runtime)
    assert decision.status == "open" and decision.due_on is not None


def test_notified_closes_the_decision_clock(ctx, demo, runtime):
    case = case_in("notified", runtime)
    decision = next(d for d in case.deadlines if d.kind == "decision")
    assert decision.status == "met"
    assert db.session.get(ObjectionApplication, case.id).notified_on == date(2026, 4, 13)


def test_late_provider_is_escalated_to_its_head(ctx, demo, runtime, clock):
    from models import OutboxMessage
    from workflows.sweep import sweep

    case = case_in("provider_verifying", runtime)
    clock.set(datetime(2026, 4, 24, 9, tzinfo=BEIJING))
    sweep(db.session, runtime, commit=commit)
    commit()
    provider = next(d for d in case.deadlines if d.kind == "provider_reply")
    assert provider.escalated_at is not None
    assert db.session.execute(db.select(OutboxMessage).where(OutboxMessage.case_id == case.id,
                                                             OutboxMessage.event == "deadline-overdue")).first()


# --- 文登 residents deleting their own positive items (3 WD) ------------------------------------

from workflows.objection import POSITIVE_DELETION, DeletionState  # noqa: E402

DCT = POSITIVE_DELETION
D_ALLOWED = {(src, s.trigger): s for s in DCT.steps for src in s.source}
D_INPUT = {"refuse": {"reason": "非本人信息"}}


def positive_record(subject_id: int = 3) -> CreditRecord:
    from models import Subject

    subject = db.session.get(Subject, subject_id)
    record = CreditRecord(subject=subject, kind="positive", title="无偿献血", decided_on=date(2026, 3, 1),
                          points=10, category="blood_donation", valid_until=date(2027, 3, 1))
    db.session.add(record)
    commit()
    return record


def deletion_case(runtime, path=()) -> Case:
    record = positive_record()
    case = open_case("positive_deletion", record.subject, user("person"), {"record_id": record.id}, runtime=runtime)
    commit()
    for trigger in path:
        step = DCT.step(trigger, case.state)
        fire(case, trigger, actor_for(step) if str(step.permission) != "case:applicant-act" else user("person"),
             D_INPUT.get(trigger, {}), runtime=runtime)
        commit()
    return case


def test_deletion_terminal_states_have_no_exits_and_all_reachable():
    assert all(DCT.steps_from(str(s)) == [] for s in DCT.terminal)
    targets = {s.target for s in DCT.steps} | {str(DCT.initial)}
    assert targets == {s.value for s in DeletionState}


@pytest.mark.parametrize("state,trigger", sorted(D_ALLOWED))
def test_deletion_allowed_pair_reaches_its_target(ctx, demo, runtime, state, trigger):
    case = deletion_case(runtime, ["submit"] if state == "submitted" else [])
    step = D_ALLOWED[(state, trigger)]
    actor = user("person") if str(step.permission) == "case:applicant-act" else actor_for(step)
    fire(case, trigger, actor, D_INPUT.get(trigger, {}), runtime=runtime)
    commit()
    assert case.state == step.target


def test_deletion_within_3_wd_archives_the_record(ctx, demo, runtime):
    case = deletion_case(runtime, ["submit"])
    assert case.reference.startswith("SC-")
    clock_deadline = next(d for d in case.deadlines if d.kind == "deletion")
    assert clock_deadline.due_on == date(2026, 4, 16)
    fire(case, "delete", user("window"), {}, runtime=runtime)
    commit()
    record = db.session.get(ObjectionApplication, case.id).record
    assert record.status == "revoked" and db.session.get(CreditRecord, record.id) is not None
    assert clock_deadline.status == "met"


def test_deletion_refused_pair_is_409(ctx, demo, runtime):
    case = deletion_case(runtime)
    with pytest.raises(TransitionNotAllowed):
        fire(case, "delete", user("window"), {}, runtime=runtime)


def test_deletion_only_for_a_residents_positive_items(ctx, demo, runtime):
    with pytest.raises(InvalidInput):  # a dishonesty record
        open_case("positive_deletion", db.session.get(CreditRecord, 4).subject, user("person"), {"record_id": 4},
                  runtime=runtime)
    company_item = positive_record(subject_id=1)
    with pytest.raises(InvalidInput):  # an organisation's item
        open_case("positive_deletion", company_item.subject, user("enterprise"), {"record_id": company_item.id},
                  runtime=runtime)
    with pytest.raises(NotFound):  # another subject's item
        open_case("positive_deletion", db.session.get(CreditRecord, 4).subject, user("person"),
                  {"record_id": company_item.id}, runtime=runtime)
