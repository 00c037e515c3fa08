"""The blacklist machine (严重失信主体名单): every allowed (state, trigger) reaches its target through
fire(), every other pair is refused with reasons, every guard passes and blocks with its reason,
every state is reachable and terminal states have no exits; plus the four-eyes rule, the listing
record's life and the 5-year cap."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from models import Case, CreditRecord, InboxMessage, ListingCase, RecordStatus, Subject, User, db
from models.permissions import SYSTEM
from webapp.views.common import commit
from workflows.base import get_case_type
from workflows.blacklist import State
from workflows.clock import BEIJING
from workflows.errors import Forbidden, InvalidInput, NotFound, TransitionNotAllowed, UnknownTrigger
from workflows.service import available_actions, fire, open_case

CT = get_case_type("blacklist")
ALL_STATES = [s.value for s in State]
ALL_TRIGGERS = sorted(CT.triggers)
ALLOWED = {(src, s.trigger): s for s in CT.steps for src in s.source}
#: Allowed by the table only so that a late statement is told when the period closed: always refused.
GUARD_ONLY = {("decided_list", "file_statement")}
#: Entered and left at once (automatic system step): put there directly for the pair tests.
TRANSIENT = {"notice_served"}
#: Steps whose guard needs the minimum listing term served.
AFTER_MIN_TERM = {"apply_repair", "remove_early"}
LATER = datetime(2027, 6, 1, 9, tzinfo=BEIJING)

OPEN_DATA = {"criteria_key": "food_drug_safety", "facts": "生产销售不符合食品安全标准的食品，情节严重",
             "act_ended_on": "2026-03-02"}

INPUT = {
    "approve_proposal": {"note": "同意拟列入"},
    "file_statement": {"statement": "我司已整改，请求不予列入"},
    "decide_list": {"answer": "经核实，陈述理由不成立，决定列入"},
    "drop": {"reason": "经核实，情节不属严重"},
    "publish": {"repair_notice_served": True},
    "confirm_sync": {"note": "信用中国（山东威海）已停止公示"},
    "revoke": {"reason": "原行政处罚决定经复议撤销", "document_no": "文复决〔2026〕1号"},
}


def user(name: str) -> User:
    return db.session.execute(db.select(User).where(User.username == name)).scalar_one()


def actor_for(step) -> User | object:
    perm = str(step.permission)
    if perm == "case:system":
        return SYSTEM
    # "reviewer" proposes; "head" (same department) approves and decides.
    names = {"case:applicant-act": "enterprise", "case:window-act": "window", "case:decide": "head"}
    return user(names[perm])


def new_case(runtime, subject_id: int = 1, data: dict | None = None, proposer: str = "reviewer") -> Case:
    subject = db.session.get(Subject, subject_id)
    case = open_case("blacklist", subject, user(proposer), data or OPEN_DATA, runtime=runtime)
    commit()
    return case


def shortest_path(target: str) -> list[str]:
    from collections import deque

    queue = deque([(str(CT.initial), [])])
    seen = {str(CT.initial)}
    while queue:
        state, path = queue.popleft()
        if state == target:
            return path
        for step in CT.steps_from(state):
            if (state, step.trigger) in GUARD_ONLY or step.target in seen:
                continue
            seen.add(step.target)
            queue.append((step.target, path + [step.trigger]))
    raise AssertionError(f"{target} unreachable")


def case_in(state: str, runtime, clock) -> Case:
    """A case put in `state` by a legal path through fire() (the automatic notice_served is set)."""
    case = new_case(runtime)
    if state in TRANSIENT:
        case.state = state
        commit()
        return case
    for trigger in shortest_path(state):
        if trigger in CT.automatic.values():  # fired by the engine on entering its state
            continue
        step = CT.step(trigger, case.state)
        if trigger in AFTER_MIN_TERM:
            clock.set(LATER)
        fire(case, trigger, actor_for(step), INPUT.get(trigger, {}), runtime=runtime)
        commit()
    assert case.state == state
    return case


# --- the table itself -------------------------------------------------------------------------

def test_every_state_is_reachable_from_candidate():
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


def test_definition_key_prefix_version_and_opening_permission():
    assert (CT.key, CT.reference_prefix, CT.version) == ("blacklist", "HM", 1)
    assert str(CT.create_permission) == "check:request"
    assert CT.automatic == {"notice_served": "confirm_service"}


def test_machine_is_shared_and_leaves_no_model_bound():
    machine = CT.machine
    CT.apply("candidate", "approve_proposal")
    assert CT.machine is machine
    assert machine.models == []


def test_opening_records_proposer_department_and_reference(ctx, demo, runtime):
    case = new_case(runtime)
    row = db.session.get(ListingCase, case.id)
    assert case.reference.startswith("HM-2026-") and case.state == "candidate"
    assert case.department_id == user("reviewer").department_id
    assert row.proposer_id == user("reviewer").id and row.approver_id is None
    assert row.legal_basis.startswith("《山东省社会信用条例》第二十九条第（一）项")
    assert case.applicant == user("enterprise")  # the party receives the notices
    assert case.events[0].trigger == "open" and case.definition_version == 1


# --- every (state, trigger) pair --------------------------------------------------------------

@pytest.mark.parametrize("state,trigger", sorted(set(ALLOWED) - GUARD_ONLY))
def test_allowed_pair_reaches_its_target(ctx, demo, runtime, clock, state, trigger):
    case = case_in(state, runtime, clock)
    step = ALLOWED[(state, trigger)]
    if trigger in AFTER_MIN_TERM:
        clock.set(LATER)
    before = len(case.events)
    event = fire(case, trigger, actor_for(step), INPUT.get(trigger, {}), runtime=runtime)
    commit()
    assert event.from_state == state and event.to_state == step.target
    assert len(case.events) >= before + 1
    expected = CT.automatic.get(step.target)
    assert case.state == (CT.step(expected, step.target).target if expected else step.target)


REFUSED = [(s, t) for s in ALL_STATES for t in ALL_TRIGGERS if (s, t) not in ALLOWED]


@pytest.mark.parametrize("state,trigger", REFUSED + sorted(GUARD_ONLY))
def test_refused_pair_is_409_with_reasons(ctx, demo, runtime, clock, state, trigger):
    case = case_in(state, runtime, clock)
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
        fire(case, "blacklist_everyone", user("head"), {}, runtime=runtime)
    assert info.value.http_status == 404


@pytest.mark.parametrize("trigger,state,wrong_user", [
    ("approve_proposal", "candidate", "window"),
    ("approve_proposal", "candidate", "enterprise"),
    ("approve_proposal", "candidate", "market"),  # another department cannot even see the case
    ("file_statement", "statement_period", "head"),
    ("file_statement", "statement_period", "person"),  # does not act for the subject
    ("decide_list", "objection_verifying", "window"),
    ("publish", "decided_list", "head"),
    ("publish", "decided_list", "enterprise"),
    ("revoke", "listed", "window"),
    ("expire", "listed", "admin"),
])
def test_wrong_actor_is_refused(ctx, demo, runtime, clock, trigger, state, wrong_user):
    case = case_in(state, runtime, clock)
    with pytest.raises((Forbidden, NotFound)):
        fire(case, trigger, user(wrong_user), INPUT.get(trigger, {}), runtime=runtime)


@pytest.mark.parametrize("trigger,state,data,field", [
    ("file_statement", "statement_period", {}, "statement"),
    ("decide_list", "objection_verifying", {}, "answer"),
    ("drop", "candidate", {}, "reason"),
    ("publish", "decided_list", {"repair_notice_served": False}, "repair_notice_served"),
    ("publish", "decided_list", {}, "repair_notice_served"),
    ("revoke", "listed", {}, "reason"),
])
def test_invalid_step_input_is_422_naming_the_field(ctx, demo, runtime, clock, trigger, state, data, field):
    case = case_in(state, runtime, clock)
    with pytest.raises(InvalidInput) as info:
        fire(case, trigger, actor_for(CT.step(trigger, state)), data, runtime=runtime)
    assert info.value.http_status == 422
    assert field in info.value.details["fields"]


# --- opening ----------------------------------------------------------------------------------

@pytest.mark.parametrize("data,field", [
    ({**OPEN_DATA, "criteria_key": "jaywalking"}, "criteria_key"),
    ({**OPEN_DATA, "act_ended_on": "2026-12-01"}, "act_ended_on"),
    ({**OPEN_DATA, "act_ended_on": "2020-01-10"}, "act_ended_on"),  # the 5-year cap ran out 2025-01-10
    ({k: v for k, v in OPEN_DATA.items() if k != "facts"}, "facts"),
])
def test_invalid_opening_is_422_naming_the_field(ctx, demo, runtime, data, field):
    with pytest.raises(InvalidInput) as info:
        open_case("blacklist", db.session.get(Subject, 1), user("reviewer"), data, runtime=runtime)
    assert field in info.value.details["fields"]


@pytest.mark.parametrize("who", ["enterprise", "window"])  # a party; the credit center (it publishes only)
def test_only_a_deciding_department_proposes_a_listing(ctx, demo, runtime, who):
    with pytest.raises(Forbidden):
        open_case("blacklist", db.session.get(Subject, 1), user(who), OPEN_DATA, runtime=runtime)


def test_another_department_proposes_for_itself(ctx, demo, runtime):
    case = new_case(runtime, proposer="market")
    assert case.department_id == user("market").department_id


# --- four eyes --------------------------------------------------------------------------------

def test_the_proposer_cannot_approve_403_and_nothing_changes(ctx, demo, runtime):
    case = new_case(runtime)
    version = case.version
    with pytest.raises(Forbidden) as info:
        fire(case, "approve_proposal", user("reviewer"), INPUT["approve_proposal"], runtime=runtime)
    db.session.rollback()
    assert info.value.http_status == 403
    assert "four eyes" in info.value.message or "提出人" in str(info.value)
    fresh = db.session.get(Case, case.id)
    assert fresh.state == "candidate" and fresh.version == version
    assert db.session.get(ListingCase, case.id).approver_id is None


def test_four_eyes_is_also_a_database_constraint(ctx, demo, runtime):
    case = new_case(runtime)
    db.session.get(ListingCase, case.id).approver_id = user("reviewer").id
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_approval_serves_the_notice_and_starts_the_statement_period(ctx, demo, runtime, clock):
    clock.set(datetime(2026, 5, 6, 10, tzinfo=BEIJING))  # S14: served Wednesday 2026-05-06
    case = new_case(runtime)
    fire(case, "approve_proposal", user("head"), INPUT["approve_proposal"], runtime=runtime)
    commit()
    row = db.session.get(ListingCase, case.id)
    assert case.state == "statement_period"
    assert row.approver_id == user("head").id and row.notice_served_on == date(2026, 5, 6)
    assert [e.trigger for e in case.events] == ["open", "approve_proposal", "confirm_service"]
    assert case.events[1].payload["notice"]["facts"] == OPEN_DATA["facts"]
    period = next(d for d in case.deadlines if d.kind == "statement")
    assert period.due_on == date(2026, 5, 12) and period.party_deadline  # 5 WD incl. Sat 05-09 make-up
    notices = db.session.execute(db.select(InboxMessage).where(
        InboxMessage.case_id == case.id, InboxMessage.user_id == user("enterprise").id)).scalars()
    assert any("告知书" in m.title for m in notices)


# --- guards -----------------------------------------------------------------------------------

def test_guard_statement_period_open_passes_on_the_last_day(ctx, demo, runtime, clock):
    clock.set(datetime(2026, 5, 6, 10, tzinfo=BEIJING))
    case = case_in("statement_period", runtime, clock)
    clock.set(datetime(2026, 5, 12, 23, tzinfo=BEIJING))
    fire(case, "file_statement", user("enterprise"), INPUT["file_statement"], runtime=runtime)
    assert case.state == "objection_verifying" and db.session.get(ListingCase, case.id).statement_filed


def test_guard_statement_period_open_blocks_after_the_last_day_naming_it(ctx, demo, runtime, clock):
    clock.set(datetime(2026, 5, 6, 10, tzinfo=BEIJING))
    case = case_in("statement_period", runtime, clock)
    clock.set(datetime(2026, 5, 13, 0, 30, tzinfo=BEIJING))  # before any sweep ran
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "file_statement", user("enterprise"), INPUT["file_statement"], runtime=runtime)
    assert any("2026-05-12" in r for r in info.value.details["reasons"])


def test_a_statement_after_the_timer_listed_is_409_naming_the_closing_day(ctx, demo, runtime, clock):
    clock.set(datetime(2026, 5, 6, 10, tzinfo=BEIJING))
    case = case_in("statement_period", runtime, clock)
    clock.set(datetime(2026, 5, 13, 9, tzinfo=BEIJING))
    fire(case, "close_statement_period", SYSTEM, {}, runtime=runtime)
    commit()
    assert case.state == "decided_list"
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "file_statement", user("enterprise"), INPUT["file_statement"], runtime=runtime)
    assert any("2026-05-12" in r for r in info.value.details["reasons"])
    actions = {a.trigger: a for a in available_actions(case, user("enterprise"), runtime=runtime)}
    assert not actions["file_statement"].enabled


def test_guard_min_term_served_blocks_naming_the_first_day_then_passes(ctx, demo, runtime, clock):
    clock.set(datetime(2026, 5, 20, 10, tzinfo=BEIJING))  # S14 decision day
    case = new_case(runtime)
    fire(case, "approve_proposal", user("head"), {}, runtime=runtime)
    fire(case, "file_statement", user("enterprise"), INPUT["file_statement"], runtime=runtime)
    fire(case, "decide_list", user("head"), INPUT["decide_list"], runtime=runtime)
    fire(case, "publish", user("window"), INPUT["publish"], runtime=runtime)
    commit()
    clock.set(datetime(2027, 5, 20, 10, tzinfo=BEIJING))
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "apply_repair", SYSTEM, {}, runtime=runtime)
    assert any("2027-05-21" in r for r in info.value.details["reasons"])
    db.session.rollback()
    clock.set(datetime(2027, 5, 21, 9, tzinfo=BEIJING))
    fire(case, "apply_repair", SYSTEM, {}, runtime=runtime)
    fire(case, "remove_early", SYSTEM, {}, runtime=runtime)
    assert case.state == "removed_early"


@pytest.mark.parametrize("trigger,state", [("apply_repair", "listed"), ("remove_early", "repair_pending"),
                                           ("refuse_repair", "repair_pending"), ("basis_withdrawn", "listed")])
@pytest.mark.parametrize("who", ["enterprise", "head", "window"])
def test_repair_and_basis_steps_are_the_systems_alone(ctx, demo, runtime, clock, trigger, state, who):
    """Early removal goes through a linked credit_repair case; nobody fires these by hand."""
    case = case_in(state, runtime, clock)
    with pytest.raises(Forbidden):
        fire(case, trigger, user(who), {}, runtime=runtime)


# --- effects ----------------------------------------------------------------------------------

def test_publishing_writes_the_serious_record_and_marks_the_legal_representative(ctx, demo, runtime, clock):
    case = case_in("listed", runtime, clock)
    row = db.session.get(ListingCase, case.id)
    record = db.session.get(CreditRecord, row.listing_record_id)
    assert (record.kind, record.severity, record.category, record.status) == (
        "dishonesty", "serious", "serious_dishonesty_list", "active")
    assert record.points == runtime.rules["blacklist.points"] == -100
    assert record.subject_id == 1 and record.document_no == case.reference
    assert record.decided_on == row.decided_on and record.act_ended_on == date(2026, 3, 2)
    assert "李某" in record.description and row.legal_rep_marked == "李某"
    payload = case.events[-1].payload
    assert payload["two_notices"]["repair_notice"] is True and payload["legal_representative"] == "李某"
    listed_notices = db.select(InboxMessage).where(InboxMessage.case_id == case.id,
                                                   InboxMessage.title.like("已列入%"))
    told = {m.user_id for m in db.session.execute(listed_notices).scalars()}
    assert {user("window").id, user("reviewer").id, user("head").id, user("enterprise").id} <= told


def test_a_natural_persons_listing_is_not_public_and_marks_no_representative(ctx, demo, runtime):
    case = new_case(runtime, subject_id=3)
    fire(case, "approve_proposal", user("head"), {}, runtime=runtime)
    fire(case, "file_statement", user("person"), INPUT["file_statement"], runtime=runtime)
    fire(case, "decide_list", user("head"), INPUT["decide_list"], runtime=runtime)
    fire(case, "publish", user("window"), INPUT["publish"], runtime=runtime)
    commit()
    row = db.session.get(ListingCase, case.id)
    assert row.legal_rep_marked is None and case.events[-1].payload["public"] is False
    assert CT.describe(case, runtime)["public"] is False


@pytest.mark.parametrize("trigger,exit_kind,state", [
    ("remove_early", "removed_early", "repair_pending"), ("revoke", "revoked_removed", "listed"),
    ("expire", "expired_removed", "listed"), ("basis_withdrawn", "revoked_removed", "listed")])
def test_every_exit_ends_the_listing_record_and_opens_the_sync_clock(ctx, demo, runtime, clock, trigger,
                                                                     exit_kind, state):
    case = case_in(state, runtime, clock)
    clock.set(datetime(2026, 11, 20, 10, tzinfo=BEIJING) if trigger not in AFTER_MIN_TERM else LATER)
    fire(case, trigger, actor_for(CT.step(trigger, state)), INPUT.get(trigger, {}), runtime=runtime)
    commit()
    row = db.session.get(ListingCase, case.id)
    assert row.exit_kind == exit_kind and row.exited_on is not None
    assert db.session.get(CreditRecord, row.listing_record_id).status == RecordStatus.REVOKED
    assert case.closed_at is None and case.state == exit_kind
    live = [d for d in case.deadlines if d.status in ("open", "suspended")]
    if trigger in AFTER_MIN_TERM:  # 2027: holidays not loaded, the removal still happens
        assert live == [] and case.events[-1].payload["sync_calendar_missing"] == 2027
    else:  # Friday 2026-11-20 + 3 WD
        assert [(d.kind, d.due_on) for d in live] == [("sync", date(2026, 11, 25))]
        assert case.events[-1].payload["sync_by"] == "2026-11-25"
    fire(case, "confirm_sync", user("window"), INPUT["confirm_sync"], runtime=runtime)
    assert case.state == "closed" and case.closed_at is not None
    assert all(d.status not in ("open", "suspended") for d in case.deadlines)


def test_refused_repair_returns_to_listed_and_keeps_the_record(ctx, demo, runtime, clock):
    case = case_in("repair_pending", runtime, clock)
    fire(case, "refuse_repair", SYSTEM, {}, runtime=runtime)
    row = db.session.get(ListingCase, case.id)
    assert case.state == "listed"
    assert db.session.get(CreditRecord, row.listing_record_id).status == RecordStatus.ACTIVE
    assert next(d for d in case.deadlines if d.kind == "expiry").status == "open"


def test_expiry_runs_three_years_from_the_decision(ctx, demo, runtime, clock):
    clock.set(datetime(2026, 5, 20, 10, tzinfo=BEIJING))
    case = case_in("decided_list", runtime, clock)
    expiry = next(d for d in case.deadlines if d.kind == "expiry")
    assert (expiry.start_on, expiry.budget, expiry.unit) == (date(2026, 5, 20), 3, "year")
    assert expiry.due_on == date(2029, 5, 20) and expiry.expiry_trigger == "expire"


def test_expiry_never_runs_past_five_years_from_the_end_of_the_act(ctx, demo, runtime, clock):
    case = new_case(runtime, data={**OPEN_DATA, "act_ended_on": "2022-01-10"})
    fire(case, "approve_proposal", user("head"), {}, runtime=runtime)
    fire(case, "file_statement", user("enterprise"), INPUT["file_statement"], runtime=runtime)
    fire(case, "decide_list", user("head"), INPUT["decide_list"], runtime=runtime)
    expiry = next(d for d in case.deadlines if d.kind == "expiry")
    assert (expiry.start_on, expiry.budget) == (date(2022, 1, 10), 5)
    assert expiry.due_on == date(2027, 1, 10)
    fire(case, "publish", user("window"), INPUT["publish"], runtime=runtime)
    row = db.session.get(ListingCase, case.id)
    assert db.session.get(CreditRecord, row.listing_record_id).valid_until == date(2027, 1, 10)


def test_publish_deadline_is_seven_working_days(ctx, demo, runtime, clock):
    clock.set(datetime(2026, 5, 20, 10, tzinfo=BEIJING))
    case = case_in("decided_list", runtime, clock)
    assert next(d for d in case.deadlines if d.kind == "publish").due_on == date(2026, 5, 29)


def test_describe_shows_the_dates(ctx, demo, runtime, clock):
    clock.set(datetime(2026, 5, 20, 10, tzinfo=BEIJING))
    case = case_in("listed", runtime, clock)
    facts = CT.describe(case, runtime)
    assert facts["decided_on"] == "2026-05-20" and facts["early_removal_from"] == "2027-05-21"
    assert facts["expires_after"] == "2029-05-20" and facts["public"] is True
    assert facts["criteria_label_zh"].startswith("严重危害")
