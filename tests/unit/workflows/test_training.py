"""The training machine (信用修复专题培训): every allowed (state, trigger) reaches its target through
fire(), every other pair is refused with reasons, every guard passes and blocks with its reason,
every state is reachable and terminal states have no exits; plus the enrolment refusals (capacity,
closing day, duplicates, cancelled sessions), the certificate clock and the certificate itself."""
from __future__ import annotations

import re
from collections import deque
from datetime import date, datetime, time

import pytest

from models import Case, Subject, TrainingCertificate, TrainingEnrolment, TrainingSession, User, db
from models.permissions import SYSTEM
from webapp.views.common import commit
from workflows.base import get_case_type
from workflows.clock import BEIJING
from workflows.errors import Forbidden, InvalidInput, NotFound, TransitionNotAllowed, UnknownTrigger
from workflows.rules import Rules
from workflows.service import available_actions, fire, open_case
from workflows.training import (
    State,
    cancel_session,
    create_session,
    enrolment_last_day,
    link_certificate,
    usable_certificate,
)

CT = get_case_type("training")
ALL_STATES = [s.value for s in State]
ALL_TRIGGERS = sorted(CT.triggers)
ALLOWED = {(src, s.trigger): s for s in CT.steps for src in s.source}

#: The session: Monday 2026-04-20 (the fixture clock is Monday 2026-04-13, 09:00).
HELD_ON = date(2026, 4, 20)
LAST_ENROLMENT_DAY = date(2026, 4, 17)   # 1 WD before: Friday
CERTIFICATE_DUE = date(2026, 4, 23)      # 3 WD after the session: Thursday
VALID_UNTIL = date(2027, 4, 20)          # 12 months from the session (C10: last day)
SESSION_DAY = datetime(2026, 4, 20, 14, tzinfo=BEIJING)

SESSION_DATA = {"title": "信用修复专题培训（第一期）", "held_on": HELD_ON, "starts_at": time(9, 30), "mode": "onsite",
                "place": "文登区政务服务中心三楼培训室", "hours": 4, "capacity": 30, "description": ""}
INPUT = {
    "withdraw": {"reason": "时间冲突"},
    "cancel": {"reason": "重复报名"},
    "fail_assessment": {"score": 40, "reason": "考核成绩未达60分"},
    "pass_assessment": {"score": 88},
}
#: Steps that need the session day to have come.
ON_SESSION_DAY = {"mark_attended", "mark_absent"}


def user(name: str) -> User:
    return db.session.execute(db.select(User).where(User.username == name)).scalar_one()


def actor_for(step) -> User | object:
    perm = str(step.permission)
    if perm == "case:system":
        return SYSTEM
    return user({"case:applicant-act": "enterprise", "case:train": "trainer"}[perm])


def new_session(runtime, **changes) -> TrainingSession:
    session = create_session(db.session, {**SESSION_DATA, **changes}, user("trainer"), runtime=runtime)
    commit()
    return session


def enrol(runtime, session: TrainingSession, subject_id: int = 1, who: str = "enterprise") -> Case:
    case = open_case("training", db.session.get(Subject, subject_id), user(who),
                     {"session_id": session.id, "attendee_name": "李某", "attendee_phone": "0631-8888888"},
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


def case_in(state: str, runtime, clock) -> Case:
    """A case put in `state` by a legal path through fire()."""
    case = enrol(runtime, new_session(runtime))
    for trigger in shortest_path(state):
        if trigger in ON_SESSION_DAY:
            clock.set(SESSION_DAY)
        fire(case, trigger, actor_for(CT.step(trigger, case.state)), INPUT.get(trigger, {}), runtime=runtime)
        commit()
    assert case.state == state
    return case


# --- the table itself -------------------------------------------------------------------------

def test_every_state_is_reachable_from_enrolled():
    reachable = {str(CT.initial)}
    frontier = [str(CT.initial)]
    while frontier:
        for step in CT.steps_from(frontier.pop()):
            if step.target not in reachable:
                reachable.add(step.target)
                frontier.append(step.target)
    assert reachable == set(ALL_STATES)


@pytest.mark.parametrize("state", [str(s) for s in CT.terminal])
def test_terminal_states_have_no_exits(state):
    assert CT.steps_from(state) == []


def test_definition_key_prefix_version_and_opening_permission():
    assert (CT.key, CT.reference_prefix, CT.version, str(CT.initial)) == ("training", "PX", 1, "enrolled")
    assert str(CT.create_permission) == "case:create"
    assert set(CT.terminal) == {"absent", "failed", "certificate_issued", "cancelled"}


def test_machine_is_shared_and_leaves_no_model_bound():
    machine = CT.machine
    CT.apply("enrolled", "mark_attended")
    assert CT.machine is machine
    assert machine.models == []


def test_opening_records_the_enrolment_and_the_centre_as_department(ctx, demo, runtime):
    session = new_session(runtime)
    case = enrol(runtime, session)
    row = db.session.get(TrainingEnrolment, case.id)
    assert case.reference.startswith("PX-2026-") and case.state == "enrolled"
    assert row.session_id == session.id and row.attendee_name == "李某" and row.enrolled_on == date(2026, 4, 13)
    assert case.department_id == user("trainer").department_id
    assert case.applicant == user("enterprise")
    assert case.events[0].trigger == "open" and case.events[0].payload["session_id"] == session.id
    assert case.deadlines == []  # no clock until attendance


# --- every (state, trigger) pair --------------------------------------------------------------

@pytest.mark.parametrize("state,trigger", sorted(ALLOWED))
def test_allowed_pair_reaches_its_target(ctx, demo, runtime, clock, state, trigger):
    case = case_in(state, runtime, clock)
    step = ALLOWED[(state, trigger)]
    if trigger in ON_SESSION_DAY:
        clock.set(SESSION_DAY)
    event = fire(case, trigger, actor_for(step), INPUT.get(trigger, {}), runtime=runtime)
    commit()
    assert event.from_state == state and event.to_state == step.target
    assert case.state == step.target and case.events[-1].trigger == trigger
    assert (case.closed_at is not None) == CT.is_terminal(step.target)


REFUSED = [(s, t) for s in ALL_STATES for t in ALL_TRIGGERS if (s, t) not in ALLOWED]


@pytest.mark.parametrize("state,trigger", REFUSED)
def test_refused_pair_is_409_with_reasons(ctx, demo, runtime, clock, state, trigger):
    case = case_in(state, runtime, clock)
    version = case.version
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, trigger, actor_for(CT.any_step(trigger)), INPUT.get(trigger, {}), runtime=runtime)
    db.session.rollback()
    assert info.value.http_status == 409
    assert info.value.details["reasons"] and info.value.details["state"] == state
    fresh = db.session.get(Case, case.id)
    assert (fresh.state, fresh.version) == (state, version)


def test_unknown_trigger_is_404(ctx, demo, runtime, clock):
    case = case_in("enrolled", runtime, clock)
    with pytest.raises(UnknownTrigger) as info:
        fire(case, "graduate_everyone", user("trainer"), {}, runtime=runtime)
    assert info.value.http_status == 404


@pytest.mark.parametrize("trigger,state,wrong_user", [
    ("mark_attended", "enrolled", "enterprise"),   # the applicant cannot sign itself in
    ("mark_attended", "enrolled", "window"),       # credit-center staff see the case but do not train
    ("mark_absent", "enrolled", "mediator"),       # another specialist does not even see it
    ("pass_assessment", "attended", "enterprise"),
    ("issue_certificate", "passed", "window"),
    ("issue_certificate", "passed", "admin"),
    ("withdraw", "enrolled", "trainer"),           # the trainer cancels with `cancel` and a reason
    ("withdraw", "enrolled", "person"),            # does not act for the subject
    ("cancel", "enrolled", "enterprise"),
])
def test_wrong_actor_is_refused(ctx, demo, runtime, clock, trigger, state, wrong_user):
    case = case_in(state, runtime, clock)
    if trigger in ON_SESSION_DAY:
        clock.set(SESSION_DAY)
    with pytest.raises((Forbidden, NotFound)):
        fire(case, trigger, user(wrong_user), INPUT.get(trigger, {}), runtime=runtime)
    db.session.rollback()
    assert db.session.get(Case, case.id).state == state


def test_the_system_clock_has_no_step_here(ctx, demo, runtime, clock):
    case = case_in("passed", runtime, clock)
    with pytest.raises(Forbidden):
        fire(case, "issue_certificate", SYSTEM, {}, runtime=runtime)


@pytest.mark.parametrize("trigger,state,data,field", [
    ("cancel", "enrolled", {}, "reason"),
    ("fail_assessment", "attended", {"score": 30}, "reason"),
    ("pass_assessment", "attended", {"score": 101}, "score"),
    ("fail_assessment", "attended", {"score": -1, "reason": "未达标准"}, "score"),
])
def test_invalid_step_input_is_422_naming_the_field(ctx, demo, runtime, clock, trigger, state, data, field):
    case = case_in(state, runtime, clock)
    with pytest.raises(InvalidInput) as info:
        fire(case, trigger, actor_for(CT.step(trigger, state)), data, runtime=runtime)
    assert info.value.http_status == 422 and field in info.value.details["fields"]


# --- guards -----------------------------------------------------------------------------------

@pytest.mark.parametrize("trigger", ["mark_attended", "mark_absent"])
def test_guard_session_held_blocks_before_the_session_day_naming_it(ctx, demo, runtime, clock, trigger):
    case = case_in("enrolled", runtime, clock)
    clock.set(datetime(2026, 4, 19, 23, 59, tzinfo=BEIJING))
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, trigger, user("trainer"), {}, runtime=runtime)
    assert any("2026-04-20" in r for r in info.value.details["reasons"])
    blocked = {a.trigger: a for a in available_actions(case, user("trainer"), runtime=runtime)}
    assert not blocked[trigger].enabled and "2026-04-20" in blocked[trigger].reasons[0]


@pytest.mark.parametrize("trigger", ["mark_attended", "mark_absent"])
def test_guard_session_held_passes_on_the_session_day_and_later(ctx, demo, runtime, clock, trigger):
    case = case_in("enrolled", runtime, clock)
    clock.set(datetime(2026, 4, 20, 0, 1, tzinfo=BEIJING))
    fire(case, trigger, user("trainer"), {}, runtime=runtime)
    assert case.state == CT.step(trigger, "enrolled").target


def test_guard_before_session_lets_the_applicant_cancel_the_day_before(ctx, demo, runtime, clock):
    case = case_in("enrolled", runtime, clock)
    clock.set(datetime(2026, 4, 19, 22, tzinfo=BEIJING))
    fire(case, "withdraw", user("enterprise"), {}, runtime=runtime)
    assert case.state == "cancelled"


def test_guard_before_session_blocks_on_the_session_day(ctx, demo, runtime, clock):
    case = case_in("enrolled", runtime, clock)
    clock.set(SESSION_DAY)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "withdraw", user("enterprise"), {}, runtime=runtime)
    assert "2026-04-20" in info.value.details["reasons"][0]
    fire(case, "cancel", user("trainer"), {"reason": "本人未到场且申请取消"}, runtime=runtime)  # the trainer still may
    assert case.state == "cancelled"


# --- enrolment refusals -----------------------------------------------------------------------

def test_enrolment_closes_one_working_day_before_the_session(ctx, demo, runtime, clock):
    session = new_session(runtime)
    assert enrolment_last_day(session, runtime.calendar(), runtime.rules) == LAST_ENROLMENT_DAY
    clock.set(datetime(2026, 4, 17, 23, 59, tzinfo=BEIJING))  # the last day itself: still open
    enrol(runtime, session, subject_id=1)
    clock.set(datetime(2026, 4, 18, 0, 1, tzinfo=BEIJING))
    with pytest.raises(TransitionNotAllowed) as info:
        enrol(runtime, session, subject_id=2)
    db.session.rollback()
    assert info.value.http_status == 409
    assert "2026-04-17" in info.value.message and "enrolment closed" in info.value.message
    assert info.value.details["enrolment_last_day"] == "2026-04-17"
    assert db.session.query(TrainingEnrolment).count() == 1


def test_closing_day_skips_rest_days_and_is_configurable(ctx, demo, runtime):
    # A session on Tuesday 2026-05-06 (after 劳动节 05-01..05-05): 1 WD before is Thursday 04-30.
    session = new_session(runtime, held_on=date(2026, 5, 6))
    assert enrolment_last_day(session, runtime.calendar(), runtime.rules) == date(2026, 4, 30)
    runtime.rules = Rules({"training.enrolment_close_wd": 3})
    assert enrolment_last_day(session, runtime.calendar(), runtime.rules) == date(2026, 4, 28)


def test_a_full_session_refuses_naming_the_capacity_and_a_cancellation_frees_the_place(ctx, demo, runtime):
    session = new_session(runtime, capacity=1)
    first = enrol(runtime, session, subject_id=1)
    with pytest.raises(TransitionNotAllowed) as info:
        enrol(runtime, session, subject_id=3, who="person")
    db.session.rollback()
    assert "capacity 1" in info.value.message and "名额已满（共1人）" in info.value.message
    assert info.value.details["capacity"] == 1
    fire(first, "withdraw", user("enterprise"), {}, runtime=runtime)
    commit()
    enrol(runtime, db.session.get(TrainingSession, session.id), subject_id=3, who="person")


def test_a_subject_enrols_once_per_session(ctx, demo, runtime):
    session = new_session(runtime)
    first = enrol(runtime, session)
    with pytest.raises(TransitionNotAllowed) as info:
        enrol(runtime, session)
    db.session.rollback()
    assert first.reference in info.value.details["reasons"][0]
    enrol(runtime, db.session.get(TrainingSession, session.id), subject_id=2)  # the shop is another subject


def test_unknown_session_is_404_and_strangers_and_trainers_cannot_enrol(ctx, demo, runtime):
    with pytest.raises(NotFound):
        open_case("training", db.session.get(Subject, 1), user("enterprise"),
                  {"session_id": 999, "attendee_name": "李某"}, runtime=runtime)
    db.session.rollback()
    session = new_session(runtime)
    for who in ("person", "trainer"):
        with pytest.raises(Forbidden):
            enrol(runtime, session, subject_id=1, who=who)
        db.session.rollback()


def test_enrolment_needs_an_attendee(ctx, demo, runtime):
    session = new_session(runtime)
    with pytest.raises(InvalidInput) as info:
        open_case("training", db.session.get(Subject, 1), user("enterprise"), {"session_id": session.id},
                  runtime=runtime)
    assert "attendee_name" in info.value.details["fields"]


# --- sessions ---------------------------------------------------------------------------------

def test_only_trainers_schedule_sessions_and_never_in_the_past(ctx, demo, runtime):
    with pytest.raises(Forbidden):
        create_session(db.session, SESSION_DATA, user("window"), runtime=runtime)
    with pytest.raises(InvalidInput) as info:
        create_session(db.session, {**SESSION_DATA, "held_on": date(2026, 4, 10)}, user("trainer"), runtime=runtime)
    assert "held_on" in info.value.details["fields"]


def test_cancelling_a_session_cancels_open_enrolments_and_closes_enrolment(ctx, demo, runtime):
    session = new_session(runtime)
    first, second = enrol(runtime, session, 1), enrol(runtime, session, 3, who="person")
    fire(second, "withdraw", user("person"), {}, runtime=runtime)
    cancelled = cancel_session(db.session, session, user("trainer"), "讲师因故无法授课", runtime=runtime)
    commit()
    assert [c.id for c in cancelled] == [first.id]
    assert first.state == "cancelled" and "讲师因故无法授课" in first.events[-1].reason
    assert first.events[-1].actor_id == user("trainer").id
    with pytest.raises(TransitionNotAllowed) as info:
        enrol(runtime, session, 2)
    assert "已取消" in info.value.message


def test_a_session_with_attendance_recorded_cannot_be_cancelled(ctx, demo, runtime, clock):
    case = case_in("attended", runtime, clock)
    session = db.session.get(TrainingEnrolment, case.id).session
    with pytest.raises(TransitionNotAllowed) as info:
        cancel_session(db.session, session, user("trainer"), "临时取消", runtime=runtime)
    assert case.reference in info.value.details["reasons"][0]
    assert session.status == "scheduled"


# --- the certificate clock and the certificate ------------------------------------------------

def test_certificate_clock_runs_from_the_session_day_even_when_attendance_is_late(ctx, demo, runtime, clock):
    case = case_in("enrolled", runtime, clock)
    clock.set(datetime(2026, 4, 22, 10, tzinfo=BEIJING))  # sign-in sheet entered two days late
    fire(case, "mark_attended", user("trainer"), {}, runtime=runtime)
    commit()
    (deadline,) = case.deadlines
    assert (deadline.kind, deadline.start_on, deadline.due_on) == ("certificate", HELD_ON, CERTIFICATE_DUE)
    assert deadline.status == "open" and deadline.responsible == "trainer"
    fire(case, "pass_assessment", user("trainer"), {}, runtime=runtime)
    assert deadline.status == "open"  # still owed
    fire(case, "issue_certificate", user("trainer"), {}, runtime=runtime)
    assert deadline.status == "met"


def test_a_failed_assessment_closes_the_clock_and_issues_nothing(ctx, demo, runtime, clock):
    case = case_in("failed", runtime, clock)
    assert [d.status for d in case.deadlines] == ["met"]
    row = db.session.get(TrainingEnrolment, case.id)
    assert row.score == 40 and row.assessment_note == "考核成绩未达60分"
    assert db.session.query(TrainingCertificate).count() == 0


def test_absent_has_no_clock_and_no_certificate(ctx, demo, runtime, clock):
    case = case_in("absent", runtime, clock)
    assert case.deadlines == [] and db.session.query(TrainingCertificate).count() == 0


def test_the_certificate_carries_serial_subject_date_hours_and_validity(ctx, demo, runtime, clock):
    case = case_in("passed", runtime, clock)
    clock.set(datetime(2026, 4, 21, 11, tzinfo=BEIJING))
    fire(case, "issue_certificate", user("trainer"), {}, runtime=runtime)
    commit()
    cert = db.session.execute(db.select(TrainingCertificate)).scalar_one()
    subject = db.session.get(Subject, 1)
    assert re.fullmatch(re.escape(case.reference) + r"-[A-HJ-NP-Z2-9]{6}", cert.serial)
    assert (cert.subject_id, cert.subject_name, cert.subject_identifier) == (1, subject.name, subject.uscc)
    assert (cert.session_date, cert.hours, cert.issued_on, cert.valid_until) == (HELD_ON, 4, date(2026, 4, 21),
                                                                               VALID_UNTIL)
    assert cert.issued_by_id == user("trainer").id
    assert case.events[-1].payload["certificate"] == {"serial": cert.serial, "valid_until": "2027-04-20",
                                                      "hours": 4, "session_date": "2026-04-20"}
    assert cert.serial in case.events[-1].reason
    assert CT.describe(case, runtime)["certificate"]["serial"] == cert.serial


def test_serials_differ_beyond_the_case_number(ctx, demo, runtime, clock):
    from workflows.training import new_serial

    case = case_in("enrolled", runtime, clock)
    serials = {new_serial(case) for _ in range(50)}
    assert len(serials) == 50 and all(s.startswith(case.reference + "-") for s in serials)


def test_validity_is_configurable(ctx, demo, runtime, clock):
    runtime.rules = Rules({"training.certificate_valid_m": 6})
    case = case_in("certificate_issued", runtime, clock)
    assert db.session.get(TrainingEnrolment, case.id).certificate.valid_until == date(2026, 10, 20)


def test_the_applicant_is_told_about_the_certificate(ctx, demo, runtime, clock):
    from models import OutboxMessage

    case = case_in("certificate_issued", runtime, clock)
    rows = db.session.execute(db.select(OutboxMessage).where(
        OutboxMessage.case_id == case.id, OutboxMessage.event == "training-certificate-issued")).scalars().all()
    assert {r.recipient_user_id for r in rows} == {user("enterprise").id}


# --- certificates used by a repair --------------------------------------------------------------

def test_usable_certificate_refuses_unknown_foreign_and_expired_numbers(ctx, demo, runtime, clock):
    case = case_in("certificate_issued", runtime, clock)
    serial = db.session.get(TrainingEnrolment, case.id).certificate.serial
    assert usable_certificate(db.session, f"  {serial.lower()} ", 1, date(2027, 4, 20), field="n").serial == serial
    with pytest.raises(InvalidInput, match="培训证明编号不存在") as info:
        usable_certificate(db.session, "PX-2026-999999-AAAAAA", 1, date(2026, 5, 1), field="n")
    assert "n" in info.value.details["fields"]
    with pytest.raises(InvalidInput, match="another subject"):
        usable_certificate(db.session, serial, 3, date(2026, 5, 1), field="n")
    with pytest.raises(InvalidInput, match="valid until 2027-04-20") as info:
        usable_certificate(db.session, serial, 1, date(2027, 4, 21), field="n")
    assert info.value.details["valid_until"] == "2027-04-20"


def test_linking_replaces_an_earlier_link(ctx, demo, runtime, clock):
    from models import CaseLink
    from workflows.service import StepContext

    first = case_in("certificate_issued", runtime, clock)
    second = enrol(runtime, new_session(runtime, held_on=date(2026, 4, 27)), subject_id=1)
    clock.set(datetime(2026, 4, 27, 10, tzinfo=BEIJING))
    for trigger in ("mark_attended", "pass_assessment", "issue_certificate"):
        fire(second, trigger, user("trainer"), {}, runtime=runtime)
    commit()
    # The first training case of subject 1 stands in for a repair case: a link is case to case.
    ctx_ = StepContext(session=db.session, case=first, case_type=CT, actor=user("enterprise"), runtime=runtime,
                       now=runtime.clock.now())
    for row_case in (first, second):
        link_certificate(ctx_, db.session.get(TrainingEnrolment, row_case.id).certificate.serial, field="n")
    db.session.flush()
    links = db.session.execute(db.select(CaseLink).where(CaseLink.from_case_id == first.id,
                                                         CaseLink.kind == "training_certificate")).scalars().all()
    assert [link.to_case_id for link in links] == [second.id]
