"""The credit_commitment machine: every allowed (state, trigger) reaches its target through fire(),
every other pair is refused with reasons, every guard passes and blocks with its reason, every
state is reachable and terminal states have no exits; the breach path through both interviews on
working-day deadlines, false commitments, withdrawal, and the link from credit repair."""
from __future__ import annotations

import hashlib
import io
from collections import deque
from datetime import date, datetime

import pytest

from models import Case, CaseLink, Commitment, CreditRecord, Deadline, OutboxMessage, RepairApplication, User, db
from models.permissions import SYSTEM
from webapp.views.common import commit, save_upload
from workflows.base import get_case_type
from workflows.clock import BEIJING
from workflows.credit_commitment import State, commitment_of, open_linked_commitment, record_breach
from workflows.errors import Forbidden, InvalidInput, NotFound, TransitionNotAllowed, UnknownTrigger
from workflows.service import StepContext, available_actions, fire, linked_cases, linking_cases, open_case
from workflows.sweep import sweep

CT = get_case_type("credit_commitment")
ALL_STATES = [s.value for s in State]
ALL_TRIGGERS = sorted(CT.triggers)
ALLOWED = {(src, s.trigger): s for s in CT.steps for src in s.source}

#: Valid input for every step that takes any.
INPUT = {
    "sign": {"signer_name": "李某", "commitment_accepted": True},
    "fulfil": {"basis": "verified", "note": "现场核查通过"},
    "suspect_breach": {"source": "data_match", "reason": "新增同类失信记录"},
    "hold_prompt_interview": {"reason": "请于三个工作日内到区信用中心参加提示约谈"},
    "order_rectification": {"interview_record": "已约谈法定代表人李某", "requirements": "停止违规经营并提交整改报告"},
    "rectified": {"reason": "已提交整改报告，经核查整改到位"},
    "escalate_to_warning": {"reason": "拒不整改"},
    "confirm_breach": {"reason": "经警示约谈仍未整改，认定违诺"},
    "find_false_commitment": {"reason": "承诺符合条件，经核查不属实"},
    "record_breach": {"kind": "breach", "reason": "关联案件已认定违诺"},
}
MATTER = "依法诚信经营，不销售不合格建材"


def user(name: str) -> User:
    return db.session.execute(db.select(User).where(User.username == name)).scalar_one()


def actor_for(step) -> User | object:
    """A self-opened commitment's department is the credit center: the window decides it too."""
    perm = str(step.permission)
    if perm == "case:system":
        return SYSTEM
    return user({"case:applicant-act": "enterprise", "case:window-act": "window", "case:decide": "window"}[perm])


def new_case(runtime, username: str = "enterprise", *, commitment_type: str = "voluntary",
             term_until: date | None = None, subject_index: int = 0) -> Case:
    applicant = user(username)
    subject = sorted(applicant.subjects, key=lambda s: s.id)[subject_index]
    data = {"commitment_type": commitment_type, "matter": MATTER}
    if term_until:
        data["term_until"] = term_until.isoformat()
    case = open_case("credit_commitment", subject, applicant, data, runtime=runtime)
    commit()
    return case


def shortest_path(target: str) -> list[str]:
    """Through steps people take (and the automatic start), never a system expiry."""
    queue = deque([(str(CT.initial), [])])
    seen = {str(CT.initial)}
    while queue:
        state, path = queue.popleft()
        if state == target:
            return path
        for step in CT.steps_from(state):
            # A system step only when it is the one way in (lapsed: the backing case ended).
            usable = not step.is_system or step.trigger in CT.automatic.values() or step.target == target == "lapsed"
            if usable and step.target not in seen:
                seen.add(step.target)
                queue.append((step.target, path + [step.trigger]))
    raise AssertionError(f"{target} unreachable")


def drive(case: Case, path: list[str], runtime) -> Case:
    for trigger in path:
        step = CT.step(trigger, case.state)
        if step is None:  # an automatic step already took the case on (published → in_fulfilment)
            continue
        fire(case, trigger, actor_for(step), INPUT.get(trigger, {}), runtime=runtime)
        commit()
    return case


@pytest.fixture
def case_in(runtime, monkeypatch):
    """A case put in `state` by a legal path through fire(). `published` is left at once by the
    automatic start_fulfilment; to stop there, the automatic step is switched off for the test."""

    def make(state: str, **kw) -> Case:
        if state == State.PUBLISHED:
            monkeypatch.setattr(CT, "automatic", {})
        case = drive(new_case(runtime, **kw), shortest_path(state), runtime)
        assert case.state == state
        return case

    return make


def breach_records() -> list[CreditRecord]:
    return list(db.session.execute(
        db.select(CreditRecord).where(CreditRecord.category.in_(("commitment_breach", "false_commitment")))
        .order_by(CreditRecord.id)).scalars())


def at(y, m, d, h=9):
    return datetime(y, m, d, h, tzinfo=BEIJING)


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


def test_states_carry_bilingual_labels():
    assert (State.DRAFT.label_zh, State.WARNING_INTERVIEW.label_zh, State.BREACHED_RECORDED.label_en) == (
        "起草", "警示约谈", "Breach recorded")
    assert all(s.label_zh and s.label_en for s in State)


def test_definition():
    assert (CT.key, CT.version, CT.reference_prefix) == ("credit_commitment", 1, "CN")
    assert CT.automatic == {"published": "start_fulfilment"}
    assert {t.kind: t.expiry_trigger for t in CT.timers} == {
        "publish": None, "first_check": None, "attendance": "miss_interview", "rectification": "miss_rectification"}


def test_machine_is_shared_and_leaves_no_model_bound():
    machine = CT.machine
    CT.apply("draft", "sign")
    assert CT.machine is machine and machine.models == []


def test_open_records_the_definition_version_and_the_text(ctx, demo, runtime):
    case = new_case(runtime)
    row = db.session.get(Commitment, case.id)
    assert case.reference.startswith("CN-2026-") and case.definition_version == 1
    assert case.events[0].trigger == "open" and case.events[0].to_state == "draft"
    assert case.department.code == "credit-center"  # a commitment of one's own: the credit center oversees it
    assert row.public and row.signed_at is None and row.text_sha256 is None
    assert "威海文登示范建材有限公司" in row.text and MATTER in row.text and "主动型" in row.text


# --- every (state, trigger) pair --------------------------------------------------------------

@pytest.mark.parametrize("state,trigger", sorted(ALLOWED))
def test_allowed_pair_reaches_its_target(ctx, demo, runtime, case_in, state, trigger):
    case = case_in(state)
    step = ALLOWED[(state, trigger)]
    before = len(case.events)
    event = fire(case, trigger, actor_for(step), INPUT.get(trigger, {}), runtime=runtime)
    commit()
    expected = CT.automatic.get(step.target)
    final = CT.step(expected, step.target).target if expected else step.target
    assert case.state == final
    assert event.from_state == state and event.to_state == step.target
    assert len(case.events) == before + (2 if expected else 1)
    assert len(breach_records()) == (1 if step.target == State.BREACHED_RECORDED else 0)


REFUSED = [(s, t) for s in ALL_STATES for t in ALL_TRIGGERS if (s, t) not in ALLOWED]


@pytest.mark.parametrize("state,trigger", REFUSED)
def test_refused_pair_is_409_with_reasons(ctx, demo, runtime, case_in, state, trigger):
    case = case_in(state)
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
    with pytest.raises(UnknownTrigger) as info:
        fire(new_case(runtime), "publish_everywhere", user("window"), {}, runtime=runtime)
    assert info.value.http_status == 404


@pytest.mark.parametrize("trigger,state,wrong_user,error", [
    ("sign", "draft", "window", Forbidden),          # staff never sign for the promisor
    ("sign", "draft", "person", NotFound),           # another applicant cannot even see it
    ("publish", "signed", "enterprise", Forbidden),
    ("publish", "signed", "reviewer", NotFound),     # a department that does not oversee it cannot see it
    ("fulfil", "in_fulfilment", "enterprise", Forbidden),
    ("withdraw", "signed", "window", Forbidden),
    ("start_fulfilment", "published", "admin", Forbidden),
    ("record_breach", "in_fulfilment", "admin", Forbidden),
    ("miss_rectification", "rectifying", "window", Forbidden),
])
def test_wrong_actor_is_refused(ctx, demo, runtime, case_in, trigger, state, wrong_user, error):
    case = case_in(state)
    with pytest.raises(error):
        fire(case, trigger, user(wrong_user), INPUT.get(trigger, {}), runtime=runtime)


@pytest.mark.parametrize("trigger,state,data,field", [
    ("sign", "draft", {"signer_name": "李某", "commitment_accepted": False}, "commitment_accepted"),
    ("sign", "draft", {"commitment_accepted": True}, "signer_name"),
    ("fulfil", "in_fulfilment", {"basis": "hope"}, "basis"),
    ("suspect_breach", "in_fulfilment", {"source": "rumour", "reason": "听说"}, "source"),
    ("order_rectification", "prompt_interview", {**INPUT["order_rectification"], "days": 0}, "days"),
    ("order_rectification", "prompt_interview", {"requirements": "整改"}, "interview_record"),
    ("confirm_breach", "warning_interview", {}, "reason"),
    ("record_breach", "in_fulfilment", {"kind": "bad", "reason": "理由"}, "kind"),
])
def test_invalid_step_input_is_422_naming_the_field(ctx, demo, runtime, case_in, trigger, state, data, field):
    case = case_in(state)
    with pytest.raises(InvalidInput) as info:
        fire(case, trigger, actor_for(CT.step(trigger, state)), data, runtime=runtime)
    assert info.value.http_status == 422 and field in info.value.details["fields"]


# --- opening ----------------------------------------------------------------------------------

@pytest.mark.parametrize("commitment_type", ["approval_substitute", "deficiency", "certificate_substitute", "repair"])
def test_applicants_open_only_voluntary_and_industry_commitments_directly(ctx, demo, runtime, commitment_type):
    with pytest.raises(InvalidInput) as info:
        new_case(runtime, commitment_type=commitment_type)
    assert "commitment_type" in info.value.details["fields"]


def test_industry_commitment_opens(ctx, demo, runtime):
    case = new_case(runtime, commitment_type="industry_self_discipline", subject_index=1)
    assert "行业自律公约" in db.session.get(Commitment, case.id).text


def test_a_term_in_the_past_is_refused(ctx, demo, runtime):
    with pytest.raises(InvalidInput) as info:
        new_case(runtime, term_until=date(2026, 4, 13))
    assert "term_until" in info.value.details["fields"]


def test_opening_for_a_subject_one_does_not_act_for_is_forbidden(ctx, demo, runtime):
    company = user("enterprise").subjects[0]
    with pytest.raises(Forbidden) as info:
        open_case("credit_commitment", company, user("person"), {"commitment_type": "voluntary", "matter": MATTER},
                  runtime=runtime)
    assert info.value.http_status == 403
    with pytest.raises(Forbidden):  # staff do not open commitments for a promisor either
        open_case("credit_commitment", company, user("window"), {"commitment_type": "voluntary", "matter": MATTER},
                  runtime=runtime)


# --- guards -----------------------------------------------------------------------------------

def test_guard_term_not_over(ctx, demo, runtime, clock):
    case = new_case(runtime, term_until=date(2026, 5, 29))
    clock.set(at(2026, 5, 30))
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "sign", user("enterprise"), INPUT["sign"], runtime=runtime)
    assert any("2026-05-29" in r for r in info.value.details["reasons"])
    db.session.rollback()
    clock.set(at(2026, 5, 29))
    fire(case, "sign", user("enterprise"), INPUT["sign"], runtime=runtime)
    assert case.state == "signed"


def test_guard_term_over_when_claimed_without_a_term(ctx, demo, runtime, case_in):
    case = case_in("in_fulfilment")
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "fulfil", user("window"), {"basis": "term_ended"}, runtime=runtime)
    assert any("no term" in r for r in info.value.details["reasons"])


def test_guard_term_over_when_claimed_blocks_until_the_term_ended(ctx, demo, runtime, clock, case_in):
    case = case_in("in_fulfilment", term_until=date(2026, 6, 30))
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "fulfil", user("window"), {"basis": "term_ended"}, runtime=runtime)
    assert any("2026-06-30" in r for r in info.value.details["reasons"])
    db.session.rollback()
    clock.set(at(2026, 7, 1))
    fire(case, "fulfil", user("window"), {"basis": "term_ended"}, runtime=runtime)
    commit()
    assert case.state == "fulfilled"
    assert case.events[-1].payload["fulfilment"] == {"basis": "term_ended", "on": "2026-07-01"}
    assert "承诺期届满未违诺" in case.events[-1].reason


# --- effects ----------------------------------------------------------------------------------

def test_signing_stores_the_signer_and_fingerprints_the_text(ctx, demo, runtime, case_in):
    case = case_in("signed")
    row = db.session.get(Commitment, case.id)
    assert row.signed_by == "李某" and row.signed_at is not None
    assert row.text_sha256 == hashlib.sha256(row.text.encode("utf-8")).hexdigest()
    assert case.events[-1].payload["commitment_sha256"] == row.text_sha256
    publish = next(d for d in case.deadlines if d.kind == "publish")
    assert (publish.due_on, publish.responsible, publish.expiry_trigger) == (date(2026, 4, 22), "window", None)


def test_publication_starts_tracking_by_itself_as_the_system(ctx, demo, runtime, case_in):
    case = case_in("signed")
    fire(case, "publish", user("window"), {}, runtime=runtime)
    commit()
    assert case.state == "in_fulfilment"
    publish, start = case.events[-2:]
    assert (publish.trigger, publish.actor_role, publish.to_state) == ("publish", "reviewer", "published")
    assert (start.trigger, start.actor_role, start.actor_id, start.from_state, start.to_state) == (
        "start_fulfilment", "system", None, "published", "in_fulfilment")
    assert db.session.get(Commitment, case.id).published_on == date(2026, 4, 13)
    assert next(d for d in case.deadlines if d.kind == "publish").status == "met"
    assert not [d for d in case.deadlines if d.kind == "first_check"]  # only approval types owe a first check


def test_a_natural_persons_commitment_is_recorded_not_published(ctx, demo, runtime):
    case = new_case(runtime, "person")
    row = db.session.get(Commitment, case.id)
    assert not row.public and "不向社会公开" in row.text and "37108119850312121" not in row.text
    fire(case, "sign", user("person"), {"signer_name": "张某", "commitment_accepted": True}, runtime=runtime)
    fire(case, "publish", user("window"), {}, runtime=runtime)
    commit()
    assert case.state == "in_fulfilment" and row.published_on == date(2026, 4, 13) and not row.public
    publish = next(e for e in case.events if e.trigger == "publish")
    assert publish.payload["public"] is False and "备案" in publish.reason


def test_withdrawal_only_before_publication(ctx, demo, runtime, case_in):
    draft = new_case(runtime)
    fire(draft, "withdraw", user("enterprise"), {"reason": "事项取消"}, runtime=runtime)
    signed = case_in("signed")
    fire(signed, "withdraw", user("enterprise"), {}, runtime=runtime)
    commit()
    assert (draft.state, signed.state) == ("withdrawn", "withdrawn")
    assert next(d for d in signed.deadlines if d.kind == "publish").status != "open"
    tracked = case_in("in_fulfilment")
    with pytest.raises(TransitionNotAllowed) as info:
        fire(tracked, "withdraw", user("enterprise"), {}, runtime=runtime)
    assert info.value.details["allowed_from"] == ["draft", "signed"]


def test_available_actions_per_role(ctx, demo, runtime, case_in):
    signed = case_in("signed")
    assert {a.trigger for a in available_actions(signed, user("window"), runtime=runtime)} == {
        "publish", "find_false_commitment"}
    assert {a.trigger for a in available_actions(signed, user("enterprise"), runtime=runtime)} == {"withdraw"}
    assert available_actions(signed, user("person"), runtime=runtime) == []
    tracked = case_in("in_fulfilment")
    assert {a.trigger for a in available_actions(tracked, user("window"), runtime=runtime)} == {
        "fulfil", "suspect_breach", "find_false_commitment"}
    assert available_actions(tracked, user("enterprise"), runtime=runtime) == []
    assert available_actions(tracked, user("auditor"), runtime=runtime) == []


def test_breach_through_both_interviews_on_working_day_deadlines(ctx, demo, runtime, clock, case_in):
    case = case_in("in_fulfilment")
    window = user("window")
    fire(case, "suspect_breach", window, INPUT["suspect_breach"], runtime=runtime)
    fire(case, "hold_prompt_interview", window, INPUT["hold_prompt_interview"], runtime=runtime)
    commit()
    attendance = next(d for d in case.deadlines if d.kind == "attendance")
    assert (attendance.start_on, attendance.due_on) == (date(2026, 4, 13), date(2026, 4, 16))  # 3 WD
    clock.set(at(2026, 4, 15, 10))  # the interview is held; rectification ordered with the default period
    fire(case, "order_rectification", window, INPUT["order_rectification"], runtime=runtime)
    commit()
    assert attendance.status == "met"
    rectification = next(d for d in case.deadlines if d.kind == "rectification")
    # 10 WD from 04-15: 04-16 … 04-29; the first working day after it is 04-30 (05-01..05-05 are rest days).
    assert (rectification.budget, rectification.due_on) == (10, date(2026, 4, 29))
    assert case.events[-1].payload["rectify_by"] == "2026-04-29"
    clock.set(at(2026, 4, 29, 23))
    assert sweep(db.session, runtime, commit=commit).fired == 0
    assert case.state == "rectifying"
    clock.set(at(2026, 4, 30, 9))
    result = sweep(db.session, runtime, commit=commit)
    assert result.fired == 1 and result.errors == []
    db.session.refresh(case)
    assert case.state == "warning_interview" and rectification.status == "expired"
    lapse = case.events[-1]
    assert (lapse.trigger, lapse.actor_role) == ("miss_rectification", "system") and "2026-04-29" in lapse.reason
    warned = db.session.execute(db.select(OutboxMessage).where(
        OutboxMessage.event == "commitment-warning-interview")).scalars().all()
    assert user("enterprise").id in {m.recipient_user_id for m in warned}
    fire(case, "confirm_breach", window, INPUT["confirm_breach"], runtime=runtime)
    commit()
    (record,) = breach_records()
    row = db.session.get(Commitment, case.id)
    assert case.state == "breached_recorded" and case.closed_at is not None
    assert (record.kind, record.severity, record.category, record.points) == (
        "dishonesty", "general", "commitment_breach", -30)
    assert record.decided_on == date(2026, 4, 30) and record.valid_until == date(2027, 4, 30)
    assert record.department.code == "credit-center" and record.subject_id == case.subject_id
    assert case.reference in record.title and MATTER in record.title
    assert (row.breach_kind, row.breach_record_id) == ("breach", record.id)
    assert case.events[-1].payload["breach"]["points"] == -30


def test_missed_prompt_interview_escalates_to_a_warning_the_next_working_day(ctx, demo, runtime, clock, case_in):
    case = case_in("prompt_interview")
    clock.set(at(2026, 4, 16, 23))
    sweep(db.session, runtime, commit=commit)
    assert case.state == "prompt_interview"
    clock.set(at(2026, 4, 17, 9))
    assert sweep(db.session, runtime, commit=commit).fired == 1
    db.session.refresh(case)
    assert case.state == "warning_interview"
    assert (case.events[-1].trigger, case.events[-1].actor_role) == ("miss_interview", "system")
    assert next(d for d in case.deadlines if d.kind == "attendance").status == "expired"


def test_the_department_sets_the_rectification_period_and_rectification_resumes_tracking(
        ctx, demo, runtime, clock, case_in):
    case = case_in("prompt_interview")
    fire(case, "order_rectification", user("window"), {**INPUT["order_rectification"], "days": "5"}, runtime=runtime)
    rectification = next(d for d in case.deadlines if d.kind == "rectification")
    assert (rectification.budget, rectification.due_on) == (5, date(2026, 4, 20))
    assert "5个工作日" in case.events[-1].reason
    fire(case, "rectified", user("window"), INPUT["rectified"], runtime=runtime)
    commit()
    assert case.state == "in_fulfilment" and rectification.status == "met"
    assert [d.kind for d in case.deadlines if d.status == "open"] == []


@pytest.mark.parametrize("username,points", [("enterprise", -30), ("person", -40)])
def test_false_commitment_goes_straight_to_the_record(ctx, demo, runtime, username, points):
    case = new_case(runtime, username)
    signer = user(username)
    fire(case, "sign", signer, {"signer_name": "签署人", "commitment_accepted": True}, runtime=runtime)
    fire(case, "find_false_commitment", user("window"), INPUT["find_false_commitment"], runtime=runtime)
    commit()
    (record,) = breach_records()
    assert case.state == "breached_recorded"
    assert (record.category, record.points, record.description) == (
        "false_commitment", points, INPUT["find_false_commitment"]["reason"])
    assert record.title.startswith("虚假信用承诺")
    assert db.session.get(Commitment, case.id).breach_kind == "false_commitment"


def test_a_breach_recorded_twice_leaves_one_record(ctx, demo, runtime, case_in):
    case = case_in("in_fulfilment")
    fire(case, "record_breach", SYSTEM, INPUT["record_breach"], runtime=runtime)
    commit()
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "record_breach", SYSTEM, INPUT["record_breach"], runtime=runtime)
    db.session.rollback()
    assert info.value.http_status == 409
    with pytest.raises(TransitionNotAllowed):
        fire(case, "find_false_commitment", user("window"), INPUT["find_false_commitment"], runtime=runtime)
    db.session.rollback()
    assert len(breach_records()) == 1


# --- linked commitments: the API other case types call ------------------------------------------

PDF = b"%PDF-1.4 receipt"
SUBMIT = {"statement": "罚款已缴纳，违法建设已拆除", "signer_name": "李某", "commitment_accepted": True}


def repair_case(runtime, *, submit: bool = True) -> Case:
    from werkzeug.datastructures import FileStorage

    enterprise = user("enterprise")
    case = open_case("credit_repair", enterprise.subjects[0], enterprise, {"record_id": 1}, runtime=runtime)
    save_upload(case, "fulfilment_proof", FileStorage(io.BytesIO(PDF), "receipt.pdf"), enterprise, runtime)
    if submit:
        fire(case, "submit", enterprise, SUBMIT, runtime=runtime)
    commit()
    return case


def to_monitoring(case: Case, runtime) -> None:
    for trigger, who in (("push", "window"), ("accept", "reviewer"), ("approve", "reviewer"),
                         ("confirm_sync", "window")):
        fire(case, trigger, user(who), {}, runtime=runtime)
    commit()


def test_repair_submission_signs_a_linked_commitment(ctx, demo, runtime):
    repair = repair_case(runtime)
    commitment_case = commitment_of(repair)
    assert linked_cases(repair) == [commitment_case] and linking_cases(commitment_case) == [repair]
    assert db.session.execute(db.select(CaseLink.kind)).scalar_one() == "commitment"
    row = db.session.get(Commitment, commitment_case.id)
    record = db.session.get(CreditRecord, 1)
    assert commitment_case.state == "signed" and commitment_case.applicant.username == "enterprise"
    assert commitment_case.department.code == "law-enforcement" == repair.department.code
    assert (row.commitment_type, row.matter, row.signed_by) == ("repair", record.title, "李某")
    sign = commitment_case.events[-1]
    assert (sign.trigger, sign.actor_role, sign.payload["commitment_sha256"]) == ("sign", "applicant", row.text_sha256)
    assert repair.events[-1].payload["commitment"]["reference"] == commitment_case.reference
    # The repair page still shows the text signed with the application.
    assert db.session.get(RepairApplication, repair.id).commitment_text


def test_a_linked_commitment_follows_its_open_case(ctx, demo, runtime):
    repair = repair_case(runtime)
    commitment_case = commitment_of(repair)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(commitment_case, "withdraw", user("enterprise"), {}, runtime=runtime)
    assert any(repair.reference in r for r in info.value.details["reasons"])
    db.session.rollback()
    fire(commitment_case, "publish", user("window"), {}, runtime=runtime)
    commit()
    with pytest.raises(TransitionNotAllowed) as info:
        fire(commitment_case, "fulfil", user("reviewer"), {"basis": "verified"}, runtime=runtime)
    assert any(repair.reference in r for r in info.value.details["reasons"])
    db.session.rollback()
    # Its department decides it; the window (another department here) cannot.
    with pytest.raises(Forbidden):
        fire(commitment_case, "find_false_commitment", user("window"), INPUT["find_false_commitment"],
             runtime=runtime)
    db.session.rollback()
    other = repair_case(runtime, submit=False)
    assert commitment_of(other) is None


def test_withdrawing_the_repair_lapses_its_commitment(ctx, demo, runtime):
    repair = repair_case(runtime)
    fire(repair, "withdraw", user("enterprise"), {}, runtime=runtime)
    commit()
    commitment_case = commitment_of(repair)
    assert commitment_case.state == "lapsed"
    assert commitment_case.events[-1].actor_role == "system"
    assert all(d.status != "open" for d in commitment_case.deadlines)  # nothing left to publish


def test_the_end_of_repair_monitoring_fulfils_its_commitment(ctx, demo, runtime, clock):
    repair = repair_case(runtime)
    to_monitoring(repair, runtime)
    commitment_case = commitment_of(repair)
    clock.set(at(2028, 1, 3))
    fire(repair, "close_monitoring", SYSTEM, {}, runtime=runtime)
    commit()
    assert repair.state == "repaired" and commitment_case.state == "fulfilled"


@pytest.mark.parametrize("grounds,category", [("broken_commitment", "commitment_breach"),
                                              ("forged_material", "false_commitment")])
def test_repair_revocation_records_the_breach_once_against_the_commitment(ctx, demo, runtime, clock, grounds,
                                                                          category):
    repair = repair_case(runtime)
    to_monitoring(repair, runtime)
    commitment_case = commitment_of(repair)
    clock.set(at(2026, 6, 1))
    fire(repair, "revoke", user("reviewer"), {"grounds": grounds, "reason": "再次发生同类违法行为"}, runtime=runtime)
    commit()
    (record,) = breach_records()
    row = db.session.get(Commitment, commitment_case.id)
    assert repair.state == "revoked" and commitment_case.state == "breached_recorded"
    assert (record.category, record.points, record.decided_on, record.valid_until) == (
        category, -10, date(2026, 6, 1), date(2027, 6, 1))
    assert repair.reference in record.title and commitment_case.reference in record.title
    assert record.department.code == "law-enforcement"
    assert (row.breach_kind, row.breach_record_id) == (
        "false_commitment" if grounds == "forged_material" else "breach", record.id)
    recorded = commitment_case.events[-1]
    assert (recorded.trigger, recorded.actor_role) == ("record_breach", "system")
    assert repair.events[-1].payload["commitment_breach"]["record_id"] == record.id


def test_revoking_a_repair_whose_commitment_is_already_breached_adds_no_second_record(ctx, demo, runtime):
    repair = repair_case(runtime)
    to_monitoring(repair, runtime)
    commitment_case = commitment_of(repair)
    fire(commitment_case, "find_false_commitment", user("reviewer"), INPUT["find_false_commitment"], runtime=runtime)
    fire(repair, "revoke", user("reviewer"), {"grounds": "forged_material", "reason": "提供虚假材料"}, runtime=runtime)
    commit()
    assert repair.state == "revoked" and len(breach_records()) == 1


def step_context(case: Case, actor, runtime) -> StepContext:
    return StepContext(session=db.session, case=case, case_type=get_case_type(case.case_type), actor=actor,
                       runtime=runtime, now=runtime.clock.now())


def test_open_linked_commitment_for_an_approval_type_plans_the_first_check(ctx, demo, runtime):
    source = repair_case(runtime, submit=False)
    enterprise = user("enterprise")
    case = open_linked_commitment(step_context(source, enterprise, runtime), commitment_type="approval_substitute",
                                  matter="建筑垃圾运输许可（告知承诺）", signer_name="李某", term_until=date(2027, 4, 13))
    commit()
    row = db.session.get(Commitment, case.id)
    assert case.state == "signed" and row.term_until == date(2027, 4, 13) and "2027-04-13" in row.text
    assert "审批条件" in row.text
    fire(case, "publish", user("window"), {}, runtime=runtime)
    commit()
    first = next(d for d in case.deadlines if d.kind == "first_check")
    assert (first.unit, first.budget, first.due_on, first.responsible) == ("cd", 30, date(2026, 5, 13), "department")


def test_open_linked_commitment_needs_the_promisor(ctx, demo, runtime):
    source = repair_case(runtime, submit=False)
    with pytest.raises(Forbidden):
        open_linked_commitment(step_context(source, user("window"), runtime), commitment_type="deficiency",
                               matter="容缺受理", signer_name="窗口")


def test_record_breach_without_a_commitment_is_refused(ctx, demo, runtime):
    source = repair_case(runtime, submit=False)
    with pytest.raises(TransitionNotAllowed):
        record_breach(step_context(source, SYSTEM, runtime), None, kind="breach", reason="无承诺")


def test_failure_inside_a_linked_step_leaves_no_commitment_behind(ctx, demo, runtime, monkeypatch):
    repair = repair_case(runtime, submit=False)

    def explode(ctx):
        raise RuntimeError("disk full")

    monkeypatch.setattr("workflows.deadlines.replan", explode)
    with pytest.raises(RuntimeError):
        fire(repair, "submit", user("enterprise"), SUBMIT, runtime=runtime)
    db.session.rollback()
    assert db.session.query(Commitment).count() == 0 and db.session.query(CaseLink).count() == 0
    assert db.session.get(Case, repair.id).state == "draft"
    assert db.session.query(Deadline).count() == 0
