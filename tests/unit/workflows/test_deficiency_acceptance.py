"""The deficiency_acceptance (容缺受理) machine: every allowed (state, trigger) reaches its target
through fire(), every other pair is refused with reasons, every guard passes and blocks with its
reason, every state is reachable and terminal states have no exits; the application's refusals,
the items, the clocks and the breach on the linked commitment.

Dates follow DOMAIN.md §10 S10: accepted Monday 2026-02-09, so the supply deadline and the
licensing decision fall on Friday 2026-03-13 (20 WD across 春节 with make-up Saturdays 02-14, 02-28).
"""
from __future__ import annotations

import io
from collections import deque
from datetime import date, datetime

import pytest
from werkzeug.datastructures import FileStorage

from forms.fields import uscc_check_char
from models import (
    Case,
    CaseEvent,
    CaseLink,
    Commitment,
    CreditRecord,
    Deadline,
    DeadlineReminder,
    DeficiencyApplication,
    OutboxMessage,
    Subject,
    User,
    db,
)
from models.permissions import SYSTEM
from webapp.views.common import commit, save_upload
from workflows.base import get_case_type
from workflows.clock import BEIJING
from workflows.deficiency_acceptance import State
from workflows.errors import Conflict, Forbidden, InvalidInput, NotFound, TransitionNotAllowed, UnknownTrigger
from workflows.service import available_actions, fire, linked_cases, open_case
from workflows.sweep import sweep

CT = get_case_type("deficiency_acceptance")
ALL_STATES = [s.value for s in State]
ALL_TRIGGERS = sorted(CT.triggers)
ALLOWED = {(src, s.trigger): s for s in CT.steps for src in s.source}
#: States a case passes through inside one fire(): the automatic breach step leaves them at once.
TRANSIENT = set(CT.automatic)
ITEMS = ["business_licence", "legal_rep_id"]
OPEN = {"matter": "food-business-licence", "missing": ITEMS, "core_complete": True}
PDF = b"%PDF-1.4\n% supplied item\n%%EOF\n"

#: Valid input for every step that takes any.
INPUT = {
    "sign": {"signer_name": "陈某", "commitment_accepted": True},
    "extend": {"reason": "需现场核查经营场所"},
    "reject": {"reason": "经营场所不符合食品安全要求"},
    "check_items": {"verdict": "conforms"},
    "declare_overdue": {"reason": "补交的健康证明系伪造"},
    "terminate": {"reason": "逾期未补齐材料"},
    "revoke": {"grounds": "conditions_not_met", "reason": "补交材料不符合要求，不具备许可条件"},
}
ACTOR = {"case:applicant-act": "enterprise", "case:window-act": "window", "case:decide": "market"}


@pytest.fixture(autouse=True)
def s10_day(clock):
    """S10: everything happens on Monday 2026-02-09 unless a test moves the clock."""
    clock.set(at(2026, 2, 9))


def at(y, m, d, h=9):
    return datetime(y, m, d, h, tzinfo=BEIJING)


def user(name: str) -> User:
    return db.session.execute(db.select(User).where(User.username == name)).scalar_one()


def actor_for(step):
    perm = str(step.permission)
    return SYSTEM if perm == "case:system" else user(ACTOR[perm])


def company_c(name: str = "文登区示范餐饮有限公司") -> Subject:
    """S10's Company C: a legal person with no record at all (the demo company has an active 一般 record).
    Each call registers another one (a fresh USCC)."""
    serial = db.session.execute(db.select(db.func.count(Subject.id))).scalar() + 1
    first17 = f"91371081MA3DEM{serial:03d}"
    subject = Subject(kind="legal_person", name=name, uscc=first17 + uscc_check_char(first17),
                      legal_representative="陈某", created_at=at(2026, 2, 1))
    db.session.add(subject)
    enterprise = user("enterprise")
    enterprise.subjects.append(subject)
    commit()
    return subject


def add_bad_record(subject: Subject) -> CreditRecord:
    record = CreditRecord(subject_id=subject.id, kind="dishonesty", severity="general", title="违法经营行政处罚",
                          decided_on=date(2026, 1, 12), points=-20, category="administrative_penalty")
    db.session.add(record)
    commit()
    return record


def new_case(runtime, subject: Subject | None = None, data: dict | None = None) -> Case:
    case = open_case("deficiency_acceptance", subject or company_c(), user("enterprise"), data or OPEN,
                     runtime=runtime)
    commit()
    return case


def upload(case: Case, key: str, runtime, content: bytes = PDF):
    attachment = save_upload(case, key, FileStorage(io.BytesIO(content), f"{key}.pdf"), user("enterprise"), runtime)
    commit()
    return attachment


def go(case: Case, trigger: str, runtime, data: dict | None = None, who=None):
    step = CT.step(trigger, case.state) or CT.any_step(trigger)
    event = fire(case, trigger, who or actor_for(step), INPUT.get(trigger, {}) if data is None else data,
                 runtime=runtime)
    commit()
    return event


def supply_all(case: Case, runtime, verdict: str | None = "conforms") -> None:
    for key in ITEMS:
        upload(case, key, runtime)
    go(case, "supply", runtime, {})
    if verdict:
        go(case, "check_items", runtime, {"verdict": verdict, "note": "与原件不一致" if verdict != "conforms" else ""})


#: How to put a case in each resting state through legal steps (callables do the non-step work).
ACCEPTED = ["check_credit", "sign", "accept"]
PATHS = {
    "applied": [],
    "credit_checked": ["check_credit"],
    "refused_route": ["check_credit", "choose_normal_route"],
    "withdrawn": ["withdraw"],
    "commitment_signed": ["check_credit", "sign"],
    "accepted_with_gaps": ACCEPTED,
    "under_review": ACCEPTED + ["start_review"],
    "decided_pending_supply": ACCEPTED + ["start_review", "decide_pending_supply"],
    "rejected": ACCEPTED + ["start_review", "reject"],
    "certificate_issued": ACCEPTED + ["start_review", "decide_pending_supply", supply_all, "issue_certificate"],
    "completed": ACCEPTED + ["start_review", "decide_pending_supply", supply_all, "issue_certificate", "close_file"],
    "overdue": ACCEPTED + ["mark_overdue"],
    "dishonesty_recorded": ACCEPTED + ["mark_overdue", "terminate"],
}


def drive(case: Case, path, runtime) -> Case:
    for action in path:
        if callable(action):
            action(case, runtime)
        else:
            go(case, action, runtime)
    return case


def case_in(state: str, runtime, subject: Subject | None = None) -> Case:
    case = drive(new_case(runtime, subject), PATHS[state], runtime)
    assert case.state == state
    return case


def prepare(case: Case, trigger: str, runtime) -> None:
    """Put in place what a step's guards need beyond the state (an upload, a finding...)."""
    if trigger == "supply":
        upload(case, ITEMS[0], runtime)
    elif trigger == "check_items":
        upload(case, ITEMS[0], runtime)
        go(case, "supply", runtime, {})
    elif trigger == "issue_certificate":
        supply_all(case, runtime)
    elif trigger == "declare_overdue" and case.state != "certificate_issued":
        upload(case, ITEMS[0], runtime)
        go(case, "supply", runtime, {})
        go(case, "check_items", runtime, {"verdict": "nonconforming", "note": "复印件模糊不清"})


def setup_pair(state: str, trigger: str, runtime) -> Case:
    if (state, trigger) == ("credit_checked", "refuse_route"):
        subject = company_c()
        add_bad_record(subject)
        return case_in(state, runtime, subject)
    if (state, trigger) == ("overdue", "revoke"):
        case = case_in("certificate_issued", runtime)
        go(case, "declare_overdue", runtime)
        return case
    case = case_in(state, runtime)
    prepare(case, trigger, runtime)
    return case


def breach_records(subject_id: int) -> list[CreditRecord]:
    return list(db.session.execute(db.select(CreditRecord).where(
        CreditRecord.subject_id == subject_id, CreditRecord.category.in_(("commitment_breach", "false_commitment"))
    )).scalars())


# --- the table itself -------------------------------------------------------------------------

def test_every_state_is_reachable_from_applied():
    reachable, frontier = {str(CT.initial)}, deque([str(CT.initial)])
    while frontier:
        for step in CT.steps_from(frontier.popleft()):
            if step.target not in reachable:
                reachable.add(step.target)
                frontier.append(step.target)
    assert reachable == set(ALL_STATES)


@pytest.mark.parametrize("state", [str(s) for s in CT.terminal])
def test_terminal_states_have_no_exits(state):
    assert CT.steps_from(state) == []


def test_every_resting_state_has_a_legal_path():
    assert set(PATHS) | TRANSIENT == set(ALL_STATES)


def test_transient_states_lead_on_automatically_to_the_breach_record():
    assert TRANSIENT == {"terminated", "revoked"}
    for state in TRANSIENT:
        step = CT.step(CT.automatic[state], state)
        assert step.is_system and step.target == "dishonesty_recorded"


def test_machine_is_shared_and_leaves_no_model_bound():
    machine = CT.machine
    CT.apply("applied", "check_credit")
    assert CT.machine is machine and machine.models == []


def test_case_records_its_definition_version_and_reference(ctx, demo, runtime):
    case = new_case(runtime)
    assert case.definition_version == CT.version == 1
    assert case.reference == f"RQ-2026-{case.id:06d}"
    assert case.events[0].trigger == "open" and case.events[0].to_state == "applied"
    assert case.department.code == "market-regulation"


# --- every (state, trigger) pair --------------------------------------------------------------

@pytest.mark.parametrize("state,trigger", sorted(k for k in ALLOWED if k[0] not in TRANSIENT))
def test_allowed_pair_reaches_its_target(ctx, demo, runtime, clock, state, trigger):
    case = setup_pair(state, trigger, runtime)
    step = ALLOWED[(state, trigger)]
    before = len(case.events)
    event = go(case, trigger, runtime)
    assert event.from_state == state and event.to_state == step.target
    assert len(case.events) == before + 1 + (1 if step.target in TRANSIENT else 0)
    if step.target in TRANSIENT:
        assert case.state == "dishonesty_recorded"
        assert case.events[-1].trigger == "record_dishonesty" and case.events[-1].from_state == step.target
    else:
        assert case.state == step.target


@pytest.mark.parametrize("source", sorted(TRANSIENT))
def test_automatic_breach_step_from_each_transient_state(ctx, demo, runtime, source):
    if source == "revoked":
        case = case_in("certificate_issued", runtime)
        go(case, "declare_overdue", runtime)
        go(case, "revoke", runtime)
    else:
        case = case_in("dishonesty_recorded", runtime)
    step_event = case.events[-1]
    assert (step_event.trigger, step_event.from_state, step_event.to_state) == (
        "record_dishonesty", source, "dishonesty_recorded")
    assert step_event.actor_role == "system" and case.closed_at is not None


@pytest.mark.parametrize("state", sorted(PATHS))
def test_every_other_pair_is_refused_409_with_reasons(ctx, demo, runtime, state):
    case = case_in(state, runtime)
    version = case.version
    refused = [t for t in ALL_TRIGGERS if (state, t) not in ALLOWED]
    assert refused
    for trigger in refused:
        with pytest.raises(TransitionNotAllowed) as info:
            fire(case, trigger, actor_for(CT.any_step(trigger)), INPUT.get(trigger, {}), runtime=runtime)
        db.session.rollback()
        assert info.value.http_status == 409, trigger
        assert info.value.details["reasons"] and info.value.details["state"] == state, trigger
    fresh = db.session.get(Case, case.id)
    assert fresh.state == state and fresh.version == version


def test_unknown_trigger_is_404(ctx, demo, runtime):
    with pytest.raises(UnknownTrigger) as info:
        fire(new_case(runtime), "teleport", user("window"), {}, runtime=runtime)
    assert info.value.http_status == 404


@pytest.mark.parametrize("trigger,state,wrong_user", [
    ("check_credit", "applied", "market"),      # the credit center checks, not the department
    ("check_credit", "applied", "enterprise"),
    ("sign", "credit_checked", "window"),
    ("accept", "commitment_signed", "window"),
    ("accept", "commitment_signed", "reviewer"),  # another department cannot even see the case
    ("issue_certificate", "decided_pending_supply", "enterprise"),
    ("mark_overdue", "accepted_with_gaps", "admin"),
    ("close_file", "certificate_issued", "market"),
])
def test_wrong_actor_is_refused(ctx, demo, runtime, trigger, state, wrong_user):
    case = case_in(state, runtime)
    with pytest.raises((Forbidden, NotFound)):
        fire(case, trigger, user(wrong_user), INPUT.get(trigger, {}), runtime=runtime)


def test_another_applicants_case_is_not_found(ctx, demo, runtime):
    case = new_case(runtime)
    with pytest.raises(NotFound):
        fire(case, "withdraw", user("person"), {}, runtime=runtime)


# --- opening: the 容缺受理清单 and the core/non-core line ------------------------------------------

def _open_error(runtime, data, subject=None):
    with pytest.raises((InvalidInput, Conflict)) as info:
        open_case("deficiency_acceptance", subject or company_c(), user("enterprise"), data, runtime=runtime)
    db.session.rollback()
    assert db.session.execute(db.select(db.func.count(Case.id)).where(
        Case.case_type == "deficiency_acceptance")).scalar() == (0 if subject is None else 1)
    return info.value


def test_a_matter_not_on_the_list_is_refused_with_the_reason(ctx, demo, runtime):
    error = _open_error(runtime, {**OPEN, "matter": "liquor-wholesale-licence"})
    assert error.http_status == 422
    assert "不在容缺受理清单内" in error.message and "matter" in error.details["fields"]


def test_a_core_item_declared_missing_is_refused_with_the_reason(ctx, demo, runtime):
    error = _open_error(runtime, {**OPEN, "missing": ["business_licence", "premises_layout"]})
    assert error.http_status == 422
    assert error.message == "核心材料不全，不适用容缺受理 / core material missing"
    assert any("经营场所平面布局图" in r for r in error.details["reasons"])


def test_an_item_of_another_matter_is_refused(ctx, demo, runtime):
    error = _open_error(runtime, {**OPEN, "missing": ["safety_plan"]})
    assert error.http_status == 422 and "safety_plan" in error.details["fields"]["missing"][0]


@pytest.mark.parametrize("data,field", [
    ({**OPEN, "missing": []}, "missing"),
    ({**OPEN, "core_complete": False}, "core_complete"),
    ({"missing": ITEMS, "core_complete": True}, "matter"),
])
def test_invalid_application_is_422_naming_the_field(ctx, demo, runtime, data, field):
    error = _open_error(runtime, data)
    assert error.http_status == 422 and field in error.details["fields"]


def test_a_matter_whose_department_is_not_registered_is_refused(ctx, demo, runtime):
    error = _open_error(runtime, {"matter": "construction-permit", "missing": ["safety_plan"], "core_complete": True})
    assert error.http_status == 422 and "department" in error.message


def test_one_open_application_per_subject_and_matter(ctx, demo, runtime):
    first = new_case(runtime)
    error = _open_error(runtime, OPEN, subject=first.subject)
    assert error.http_status == 409 and first.reference in error.message


def test_the_application_keeps_each_missing_item(ctx, demo, runtime):
    case = new_case(runtime, data={**OPEN, "missing": ["legal_rep_id", "business_licence", "legal_rep_id"]})
    app = db.session.get(DeficiencyApplication, case.id)
    assert [i.item_key for i in app.items] == ["legal_rep_id", "business_licence"]
    assert app.items[0].label == "法定代表人身份证明 / Legal representative's ID"
    assert app.matter_name == "食品经营许可 / Food business licence"


@pytest.mark.parametrize("trigger,state,data,field", [
    ("sign", "credit_checked", {"signer_name": "陈某", "commitment_accepted": False}, "commitment_accepted"),
    ("extend", "under_review", {}, "reason"),
    ("reject", "under_review", {"reason": ""}, "reason"),
    ("check_items", "decided_pending_supply", {"verdict": "maybe"}, "verdict"),
    ("revoke", "overdue", {"grounds": "bad luck", "reason": "事实与理由"}, "grounds"),
    ("terminate", "overdue", {}, "reason"),
])
def test_invalid_step_input_is_422_naming_the_field(ctx, demo, runtime, trigger, state, data, field):
    case = case_in(state, runtime)
    with pytest.raises(InvalidInput) as info:
        fire(case, trigger, actor_for(CT.step(trigger, state)), data, runtime=runtime)
    assert info.value.http_status == 422 and field in info.value.details["fields"]


# --- the credit check (T1/T2) ----------------------------------------------------------------------

def test_clean_check_is_linked_and_lets_the_applicant_sign(ctx, demo, runtime):
    case = case_in("credit_checked", runtime)
    app = db.session.get(DeficiencyApplication, case.id)
    check = db.session.get(Case, app.check_case_id)
    assert check.case_type == "verification" and check.state == "result_issued"
    assert linked_cases(case, "credit_check") == [check]
    assert case.events[-1].payload["check_result"] == "clean" and "通过" in case.events[-1].reason
    actions = {a.trigger: a for a in available_actions(case, user("enterprise"), runtime=runtime)}
    assert actions["sign"].enabled


def test_guard_check_passed_blocks_signing_after_a_failed_check_with_the_reason(ctx, demo, runtime):
    subject = company_c()
    add_bad_record(subject)
    case = case_in("credit_checked", runtime, subject)
    with pytest.raises(TransitionNotAllowed) as info:
        go(case, "sign", runtime)
    assert any("容缺" in r and "normal route" in r for r in info.value.details["reasons"])
    blocked = next(a for a in available_actions(case, user("enterprise"), runtime=runtime) if a.trigger == "sign")
    assert not blocked.enabled and blocked.reasons == info.value.details["reasons"]


def test_guard_check_failed_blocks_refusing_a_clean_subject(ctx, demo, runtime):
    case = case_in("credit_checked", runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        go(case, "refuse_route", runtime)
    assert any("passed" in r for r in info.value.details["reasons"])


def test_failed_check_refuses_the_route_with_the_checks_reason(ctx, demo, runtime):
    subject = company_c()
    add_bad_record(subject)
    case = case_in("credit_checked", runtime, subject)
    assert case.events[-1].payload["check_result"] == "has_dishonesty"
    go(case, "refuse_route", runtime, {})
    app = db.session.get(DeficiencyApplication, case.id)
    assert case.state == "refused_route" and case.closed_at is not None
    assert "修复前不适用容缺受理" in app.refused_reason and case.events[-1].reason == app.refused_reason
    assert db.session.execute(db.select(OutboxMessage).where(OutboxMessage.event == "rongque-refused")).scalars().first()


def test_the_demo_company_with_an_active_record_is_refused(ctx, demo, runtime):
    company = user("enterprise").subjects[0]
    case = new_case(runtime, company)
    go(case, "check_credit", runtime)
    assert case.events[-1].payload["check_result"] == "has_dishonesty"
    go(case, "refuse_route", runtime, {})
    assert case.state == "refused_route"


def test_the_applicant_may_decline_to_commit(ctx, demo, runtime):
    case = case_in("credit_checked", runtime)
    go(case, "choose_normal_route", runtime, {"reason": "材料可一次备齐"})
    assert case.state == "refused_route"
    assert "declined to commit" in db.session.get(DeficiencyApplication, case.id).refused_reason


# --- commitment and acceptance (T3/T4) ---------------------------------------------------------------

def test_signing_opens_the_linked_deficiency_commitment(ctx, demo, runtime):
    case = case_in("commitment_signed", runtime)
    app = db.session.get(DeficiencyApplication, case.id)
    commitment_case = db.session.get(Case, app.commitment_case_id)
    assert linked_cases(case, "commitment") == [commitment_case]
    row = db.session.get(Commitment, commitment_case.id)
    assert row.commitment_type == "deficiency" and row.signed_by == "陈某"
    assert "营业执照复印件、法定代表人身份证明" in row.matter and "20个工作日" in row.matter
    assert commitment_case.department_id == case.department_id


def test_acceptance_serves_one_notice_with_items_form_deadline_and_consequences(ctx, demo, runtime):
    case = case_in("accepted_with_gaps", runtime)
    app = db.session.get(DeficiencyApplication, case.id)
    assert app.supply_due_on == date(2026, 3, 13)
    assert [i.due_on for i in app.items] == [date(2026, 3, 13)] * 2
    notice = case.events[-1].reason
    for part in ("营业执照复印件", "法定代表人身份证明", "上传", "2026-03-13", "终止办理", "记入信用记录"):
        assert part in notice
    message = db.session.execute(db.select(OutboxMessage).where(OutboxMessage.event == "rongque-accepted",
                                                                OutboxMessage.channel == "inapp")).scalar_one()
    assert "2026-03-13" in message.body and message.recipient_user_id == user("enterprise").id


def test_acceptance_starts_the_supply_and_decision_clocks(ctx, demo, runtime):
    case = case_in("accepted_with_gaps", runtime)
    clocks = {d.kind: d for d in case.deadlines}
    assert clocks["supply"].due_on == date(2026, 3, 13) and clocks["supply"].party_deadline
    assert clocks["supply"].responsible == "applicant" and clocks["supply"].expiry_trigger == "mark_overdue"
    assert clocks["decision"].due_on == date(2026, 3, 13) and clocks["decision"].responsible == "department"


def test_extension_adds_ten_working_days_once(ctx, demo, runtime):
    case = case_in("under_review", runtime)
    go(case, "extend", runtime)
    decision = next(d for d in case.deadlines if d.kind == "decision")
    assert decision.due_on == date(2026, 3, 27) and decision.extensions[0].reason == "需现场核查经营场所"
    assert next(d for d in case.deadlines if d.kind == "supply").due_on == date(2026, 3, 13)  # not the party's
    with pytest.raises(TransitionNotAllowed) as info:
        go(case, "extend", runtime)
    assert any("extended once" in r for r in info.value.details["reasons"])


def test_decision_closes_the_decision_clock_but_not_the_supply_clock(ctx, demo, runtime):
    case = case_in("decided_pending_supply", runtime)
    clocks = {d.kind: d.status for d in case.deadlines}
    assert clocks == {"decision": "met", "supply": "open"}


# --- supply, checks and the certificate (T5/T6) -------------------------------------------------

def test_uploads_offer_only_the_items_still_missing(ctx, demo, runtime):
    case = case_in("accepted_with_gaps", runtime)
    assert [m.key for m in CT.uploads(case)] == ITEMS
    upload(case, "business_licence", runtime)
    go(case, "supply", runtime, {})
    assert [m.key for m in CT.uploads(case)] == ["legal_rep_id"]
    with pytest.raises(InvalidInput) as info:  # a supplied item is no longer missing
        upload(case, "business_licence", runtime)
    assert info.value.http_status == 422


def test_uploads_only_while_supplying(ctx, demo, runtime):
    case = case_in("credit_checked", runtime)
    with pytest.raises(TransitionNotAllowed):
        upload(case, "business_licence", runtime)


def test_supply_records_the_items_with_their_files(ctx, demo, runtime, clock):
    case = case_in("under_review", runtime)
    clock.set(at(2026, 3, 2, 10))
    attachment = upload(case, "legal_rep_id", runtime)
    go(case, "supply", runtime, {"items": ["legal_rep_id"]})
    item = next(i for i in db.session.get(DeficiencyApplication, case.id).items if i.item_key == "legal_rep_id")
    assert item.attachment_id == attachment.id and item.supplied_at == at(2026, 3, 2, 10)
    assert case.events[-1].payload["supplied"][0]["sha256"] == attachment.sha256
    assert next(d for d in case.deadlines if d.kind == "supply").status == "open"  # one item still missing


def test_supplying_an_item_that_was_not_missing_is_422(ctx, demo, runtime):
    case = case_in("accepted_with_gaps", runtime)
    upload(case, "business_licence", runtime)
    for items in (["staff_health_certificates"], ["application_form"]):
        with pytest.raises(InvalidInput) as info:
            go(case, "supply", runtime, {"items": items})
        db.session.rollback()
        assert info.value.http_status == 422 and "not a missing item" in info.value.details["fields"]["items"][0]
    go(case, "supply", runtime, {"items": ["business_licence"]})
    with pytest.raises(InvalidInput) as info:  # supplied once: not missing any more
        go(case, "supply", runtime, {"items": ["business_licence"]})
    assert info.value.http_status == 422


def test_supplying_an_item_without_its_file_is_422(ctx, demo, runtime):
    case = case_in("accepted_with_gaps", runtime)
    with pytest.raises(InvalidInput) as info:
        go(case, "supply", runtime, {"items": ["legal_rep_id"]})
    assert "no file uploaded" in info.value.details["fields"]["items"][0]


def test_guard_something_uploaded(ctx, demo, runtime):
    case = case_in("accepted_with_gaps", runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        go(case, "supply", runtime, {})
    assert any("upload the missing items first" in r for r in info.value.details["reasons"])
    upload(case, "legal_rep_id", runtime)
    go(case, "supply", runtime, {})
    assert case.state == "accepted_with_gaps"


def test_guard_supply_deadline_open_after_24_00_of_the_last_day(ctx, demo, runtime, clock):
    case = case_in("accepted_with_gaps", runtime)
    upload(case, "legal_rep_id", runtime)
    clock.set(at(2026, 3, 13, 23))
    go(case, "supply", runtime, {})  # the last day counts to 24:00 (C10)
    upload(case, "business_licence", runtime)
    clock.set(at(2026, 3, 14, 10))  # Saturday: not overdue yet for the sweep, but too late to supply
    with pytest.raises(TransitionNotAllowed) as info:
        go(case, "supply", runtime, {})
    assert any("2026-03-13" in r for r in info.value.details["reasons"])


def test_guard_supply_deadline_open_when_everything_is_in(ctx, demo, runtime):
    case = case_in("accepted_with_gaps", runtime)
    supply_all(case, runtime, verdict=None)
    with pytest.raises(TransitionNotAllowed) as info:
        go(case, "supply", runtime, {})
    assert any("every item has been supplied" in r for r in info.value.details["reasons"])


def test_the_last_item_meets_the_supply_clock_so_nothing_goes_overdue(ctx, demo, runtime, clock):
    case = case_in("under_review", runtime)
    supply_all(case, runtime, verdict=None)
    supply = next(d for d in case.deadlines if d.kind == "supply")
    assert supply.status == "met" and supply.next_action_at is None
    assert "材料已全部补齐" in case.events[-1].reason
    clock.set(at(2026, 3, 16))
    sweep(db.session, runtime, commit=commit)
    assert case.state == "under_review"
    go(case, "decide_pending_supply", runtime)  # the closed clock is not reopened by later steps
    assert next(d for d in case.deadlines if d.kind == "supply").status == "met"


def test_guard_something_to_check(ctx, demo, runtime):
    case = case_in("decided_pending_supply", runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        go(case, "check_items", runtime)
    assert any("no supplied item awaits a check" in r for r in info.value.details["reasons"])


def test_checking_an_item_not_supplied_is_422(ctx, demo, runtime):
    case = case_in("decided_pending_supply", runtime)
    upload(case, "legal_rep_id", runtime)
    go(case, "supply", runtime, {})
    with pytest.raises(InvalidInput) as info:
        go(case, "check_items", runtime, {"verdict": "conforms", "items": ["business_licence"]})
    assert "has not been supplied" in info.value.details["fields"]["items"][0]


def test_a_nonconforming_finding_needs_a_note(ctx, demo, runtime):
    case = case_in("decided_pending_supply", runtime)
    upload(case, "legal_rep_id", runtime)
    go(case, "supply", runtime, {})
    with pytest.raises(InvalidInput) as info:
        go(case, "check_items", runtime, {"verdict": "nonconforming"})
    assert "note" in info.value.details["fields"]


def test_guard_all_items_conform_blocks_the_certificate_until_every_item_arrived_and_conforms(ctx, demo, runtime):
    case = case_in("decided_pending_supply", runtime)

    def reasons():
        with pytest.raises(TransitionNotAllowed) as info:
            go(case, "issue_certificate", runtime)
        db.session.rollback()
        return " ".join(info.value.details["reasons"])

    assert "营业执照复印件（未补交）" in reasons() and "法定代表人身份证明（未补交）" in reasons()
    upload(case, "business_licence", runtime)
    go(case, "supply", runtime, {})
    assert "营业执照复印件（待查验）" in reasons() and "法定代表人身份证明（未补交）" in reasons()
    go(case, "check_items", runtime, {"verdict": "conforms"})
    assert "营业执照复印件" not in reasons()
    upload(case, "legal_rep_id", runtime)
    go(case, "supply", runtime, {})
    go(case, "check_items", runtime, {"verdict": "nonconforming", "note": "证件已过期"})
    assert "法定代表人身份证明（不符合要求）" in reasons()
    go(case, "check_items", runtime, {"verdict": "conforms", "items": ["legal_rep_id"], "note": "已核对原件"})
    go(case, "issue_certificate", runtime)
    app = db.session.get(DeficiencyApplication, case.id)
    assert case.state == "certificate_issued"
    assert app.certificate_no == f"RQZ-2026-{case.id:06d}" and app.issued_on == date(2026, 2, 9)
    assert app.certificate_no in case.events[-1].reason


def test_issue_starts_the_post_issuance_period_which_completes_the_case(ctx, demo, runtime, clock):
    case = case_in("certificate_issued", runtime)
    period = next(d for d in case.deadlines if d.kind == "post_issue_check")
    assert period.due_on == date(2026, 3, 11) and period.expiry_trigger == "close_file"  # 30 CD
    clock.set(at(2026, 3, 11))
    sweep(db.session, runtime, commit=commit)
    assert case.state == "certificate_issued"
    clock.set(at(2026, 3, 12))
    sweep(db.session, runtime, commit=commit)
    assert case.state == "completed" and case.closed_at is not None
    assert not breach_records(case.subject_id)


# --- overdue, termination, revocation, the breach (T7–T10) ------------------------------------------

def test_guard_grounds_for_overdue(ctx, demo, runtime):
    case = case_in("decided_pending_supply", runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        go(case, "declare_overdue", runtime)
    assert any("nonconforming" in r for r in info.value.details["reasons"])
    prepare(case, "declare_overdue", runtime)
    go(case, "declare_overdue", runtime)
    assert case.state == "overdue"


def test_guard_nothing_issued_and_certificate_was_issued(ctx, demo, runtime):
    plain = case_in("overdue", runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        go(plain, "revoke", runtime)
    assert any("terminate instead" in r for r in info.value.details["reasons"])
    issued = case_in("certificate_issued", runtime)
    go(issued, "declare_overdue", runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        go(issued, "terminate", runtime)
    assert any("revoke it instead" in r for r in info.value.details["reasons"])


def test_expiry_marks_overdue_listing_what_is_outstanding(ctx, demo, runtime, clock):
    case = case_in("under_review", runtime)
    upload(case, "business_licence", runtime)
    go(case, "supply", runtime, {})
    clock.set(at(2026, 3, 16))
    sweep(db.session, runtime, commit=commit)
    assert case.state == "overdue"
    event = case.events[-1]
    assert event.trigger == "mark_overdue" and event.actor_role == "system"
    assert "法定代表人身份证明（未补交）" in event.reason and "营业执照复印件" not in event.reason
    assert next(d for d in case.deadlines if d.kind == "supply").status == "expired"


def test_termination_records_one_breach_on_the_commitment(ctx, demo, runtime):
    case = case_in("dishonesty_recorded", runtime)
    app = db.session.get(DeficiencyApplication, case.id)
    commitment_case = db.session.get(Case, app.commitment_case_id)
    assert commitment_case.state == "breached_recorded"
    [record] = breach_records(case.subject_id)
    assert record.category == "commitment_breach" and record.points == -30
    assert db.session.get(Commitment, commitment_case.id).breach_record_id == record.id
    assert case.reference in record.title and "终止办理" in case.events[-1].reason
    assert [e.trigger for e in case.events[-2:]] == ["terminate", "record_dishonesty"]


def test_revocation_for_deception_records_a_false_commitment(ctx, demo, runtime):
    case = case_in("certificate_issued", runtime)
    go(case, "declare_overdue", runtime)
    go(case, "revoke", runtime, {"grounds": "deception", "reason": "补交的营业执照系伪造"})
    assert case.state == "dishonesty_recorded"
    [record] = breach_records(case.subject_id)
    assert record.category == "false_commitment"
    assert "撤销许可" in case.events[-1].reason
    assert db.session.get(DeficiencyApplication, case.id).certificate_no  # the number stays on file


def test_a_breach_recorded_twice_is_one_record(ctx, demo, runtime):
    case = case_in("overdue", runtime)
    app = db.session.get(DeficiencyApplication, case.id)
    commitment_case = db.session.get(Case, app.commitment_case_id)
    # The commitment's department found the breach first, on the commitment case itself.
    fire(commitment_case, "record_breach", SYSTEM, {"kind": "breach", "reason": "逾期未补齐材料"}, runtime=runtime)
    commit()
    go(case, "terminate", runtime)
    assert case.state == "dishonesty_recorded"
    assert len(breach_records(case.subject_id)) == 1
    with pytest.raises(TransitionNotAllowed):
        fire(case, "record_dishonesty", SYSTEM, {}, runtime=runtime)


def test_after_the_breach_the_next_application_is_refused_at_the_credit_check(ctx, demo, runtime):
    first = case_in("dishonesty_recorded", runtime)
    again = new_case(runtime, first.subject)
    go(again, "check_credit", runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        go(again, "sign", runtime)
    assert any("违背承诺" in r for r in info.value.details["reasons"])
    go(again, "refuse_route", runtime, {})
    assert again.state == "refused_route"
    assert "修复前不适用容缺受理" in db.session.get(DeficiencyApplication, again.id).refused_reason


# --- reminders --------------------------------------------------------------------------------------

def test_the_t_minus_3_reminder_before_the_supply_deadline_is_sent_once(ctx, demo, runtime, clock):
    case = case_in("accepted_with_gaps", runtime)
    supply = next(d for d in case.deadlines if d.kind == "supply")
    clock.set(at(2026, 3, 9))
    sweep(db.session, runtime, commit=commit)
    assert supply.reminders == []
    clock.set(at(2026, 3, 10))  # T−3 WD of Friday 03-13
    sweep(db.session, runtime, commit=commit)
    sweep(db.session, runtime, commit=commit)
    clock.set(at(2026, 3, 11))
    sweep(db.session, runtime, commit=commit)
    assert [r.rung for r in db.session.execute(db.select(DeadlineReminder).where(
        DeadlineReminder.deadline_id == supply.id)).scalars()] == ["T-3"]
    sent = db.session.execute(db.select(OutboxMessage).where(
        OutboxMessage.event == "deadline-reminder", OutboxMessage.case_id == case.id,
        OutboxMessage.channel == "inapp")).scalars().all()
    to_applicant = [m for m in sent if m.recipient_user_id == user("enterprise").id]
    assert len(to_applicant) == 1 and "2026-03-13" in to_applicant[0].body
    # The department hears about its own decision clock (also due 03-13), not the applicant's.
    assert {m.recipient_user_id for m in sent} == {user("enterprise").id, user("market").id}


# --- what the pages show ------------------------------------------------------------------------

def test_describe_shows_items_with_due_dates_supply_and_checks(ctx, demo, runtime):
    case = case_in("under_review", runtime)
    upload(case, "business_licence", runtime)
    go(case, "supply", runtime, {})
    go(case, "check_items", runtime, {"verdict": "conforms"})
    details = CT.describe(case, runtime)
    first, second = details["items"]
    assert first["key"] == "business_licence" and first["due_on"] == "2026-03-13"
    assert first["supplied_at"] and first["conforms"] is True and first["attachment_id"]
    assert second["supplied_at"] is None and second["conforms"] is None
    assert details["missing"] == ["legal_rep_id"] and details["outstanding"] == ["legal_rep_id"]
    assert details["check_result"] == "clean" and details["check_passes"] is True
    assert details["commitment_reference"].startswith("CN-") and details["commitment_signed_by"] == "陈某"
    assert details["materials"][0] == {"key": "business_licence", "kind": "upload", "present": True,
                                       "label_zh": "营业执照复印件", "label_en": "Copy of the business licence"}
    assert details["supply_due_on"] == "2026-03-13" and details["certificate_no"] is None


def test_the_commitment_previewed_is_the_commitment_signed(ctx, demo, runtime):
    case = case_in("credit_checked", runtime)
    preview = CT.describe(case, runtime)["commitment_text"]
    assert "容缺受理" in preview and "营业执照复印件、法定代表人身份证明" in preview and "20个工作日" in preview
    go(case, "sign", runtime)
    signed = db.session.get(Commitment, db.session.get(DeficiencyApplication, case.id).commitment_case_id)
    assert signed.text == preview == CT.describe(case, runtime)["commitment_text"]


def test_available_actions_per_role(ctx, demo, runtime):
    case = new_case(runtime)
    assert {a.trigger for a in available_actions(case, user("window"), runtime=runtime)} == {"check_credit"}
    assert {a.trigger for a in available_actions(case, user("enterprise"), runtime=runtime)} == {"withdraw"}
    assert available_actions(case, user("market"), runtime=runtime) == []
    assert available_actions(case, user("reviewer"), runtime=runtime) == []  # another department: not visible
    drive(case, ["check_credit", "sign"], runtime)
    assert {a.trigger for a in available_actions(case, user("market"), runtime=runtime)} == {"accept"}
    go(case, "accept", runtime)
    market = {a.trigger: a for a in available_actions(case, user("market"), runtime=runtime)}
    assert set(market) == {"start_review", "extend", "check_items", "declare_overdue"}
    assert not market["check_items"].enabled and not market["declare_overdue"].enabled
    applicant = {a.trigger: a for a in available_actions(case, user("enterprise"), runtime=runtime)}
    assert set(applicant) == {"supply"} and not applicant["supply"].enabled


# --- one transaction --------------------------------------------------------------------------

def test_a_failure_inside_the_check_leaves_no_partial_state(ctx, demo, runtime, monkeypatch):
    case = new_case(runtime)
    counts = (db.session.query(CaseEvent).count(), db.session.query(Case).count(),
              db.session.query(CaseLink).count(), db.session.query(Deadline).count())

    def explode(ctx):
        raise RuntimeError("disk full")

    monkeypatch.setattr("workflows.deadlines.replan", explode)
    with pytest.raises(RuntimeError):
        fire(case, "check_credit", user("window"), {}, runtime=runtime)
    db.session.rollback()
    assert db.session.get(Case, case.id).state == "applied"
    assert db.session.get(DeficiencyApplication, case.id).check_case_id is None
    assert (db.session.query(CaseEvent).count(), db.session.query(Case).count(),
            db.session.query(CaseLink).count(), db.session.query(Deadline).count()) == counts


def test_a_false_容缺_commitment_found_on_the_commitment_is_handed_over_to_the_approval(ctx, demo, runtime):
    """§1.4 T10/T11: a breach found on an approval-type commitment goes to the approval it backed."""
    from models import OutboxMessage
    from workflows.credit_commitment import commitment_of

    case = case_in("commitment_signed", runtime)
    commitment_case = commitment_of(case)
    fire(commitment_case, "publish", user("window"), {}, runtime=runtime)
    fire(commitment_case, "find_false_commitment", user("market"), {"reason": "营业执照系伪造"}, runtime=runtime)
    commit()
    assert commitment_case.state == "breached_recorded"
    assert commitment_case.events[-1].payload["handed_over_to"] == case.reference
    handover = db.session.execute(db.select(OutboxMessage).where(
        OutboxMessage.event == "commitment-breach-handover")).scalars().all()
    assert {m.recipient_user_id for m in handover} >= {user("market").id}
    assert all(case.reference in m.title for m in handover)
