"""The onsite_verification machine (现场核查 of a commitment): every allowed (state, trigger) reaches its
target through fire(), every other pair is refused with reasons, every guard passes and blocks with
its reason, every state is reachable and terminal states have no exits; who may open, assign, act
and upload; the visit and report clocks; and the report feeding the commitment (T4 / T5) in the
same transaction, or noted in the ledger when the commitment's own rules refuse it now."""
from __future__ import annotations

import io
from collections import deque
from datetime import date, datetime

import pytest
from werkzeug.datastructures import FileStorage

from models import Case, CaseEvent, CaseLink, Department, OutboxMessage, Role, User, db
from models.onsite_verification import OnsiteVerification
from models.permissions import SYSTEM
from webapp.views.common import commit
from webapp.views.inspection import save_photo
from workflows import onsite_verification as onsite
from workflows.base import get_case_type
from workflows.clock import BEIJING
from workflows.errors import Forbidden, InvalidInput, NotFound, TransitionNotAllowed, UnknownTrigger
from workflows.onsite_verification import State
from workflows.rules import Rules
from workflows.service import available_actions, fire, linked_cases, linking_cases, open_case

CT = get_case_type("onsite_verification")
ALL_STATES = [s.value for s in State]
ALL_TRIGGERS = sorted(CT.triggers)
ALLOWED = {(src, s.trigger): s for s in CT.steps for src in s.source}

#: A minimal real PNG (signature and IHDR) and JPEG (SOI + JFIF APP0) — the type is read from content.
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\nIDATx\x9cc\x00\x01\x00\x00\x05\x00\x01\r\n-\xb4\x00\x00\x00\x00IEND\xaeB`\x82")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"

#: Valid input for every step that takes any (the clock stands at 2026-04-13, Monday).
INPUT = {
    "schedule": {"visit_on": "2026-04-15", "place": "威海市文登区龙山路1号"},
    "reschedule": {"visit_on": "2026-04-16"},
    "inspect": {"observations": "经营场所整洁，所售建材均有合格证明", "subject_signature": "signed",
                "signer_name": "李某", "inspector_signs": True},
    "countersign": {"inspector_signs": True},
    "report": {"result": "conforming", "findings": "", "internal_note": "店主配合"},
    "cancel": {"reason": "承诺主体已停业，无需核查"},
}
MATTER = "依法诚信经营，不销售不合格建材"


def user(name: str) -> User:
    return db.session.execute(db.select(User).where(User.username == name)).scalar_one()


def third_inspector() -> User:
    extra = User(username="inspector3", role=Role.INSPECTOR, display_name="现场核查员三 / Third inspector",
                 password_hash=user("inspector").password_hash, created_at=datetime(2026, 1, 5, tzinfo=BEIJING))
    db.session.add(extra)
    commit()
    return extra


def actor_for(step, trigger: str | None = None) -> User | object:
    """`inspector` schedules, records and reports; `inspector2` countersigns; the window cancels."""
    perm = str(step.permission)
    if perm == "case:system":
        return SYSTEM
    if (trigger or step.trigger) == "countersign":
        return user("inspector2")
    return user({"case:inspect": "inspector", "check:request": "window"}[perm])


def at(y, m, d, h=9):
    return datetime(y, m, d, h, tzinfo=BEIJING)


def commitment_in_fulfilment(runtime, subject_id: int = 1) -> Case:
    """A voluntary commitment of the demo company, signed and published: in fulfilment tracking."""
    applicant = user("enterprise")
    subject = next(s for s in applicant.subjects if s.id == subject_id)
    case = open_case("credit_commitment", subject, applicant, {"commitment_type": "voluntary", "matter": MATTER},
                     runtime=runtime)
    fire(case, "sign", applicant, {"signer_name": "李某", "commitment_accepted": True}, runtime=runtime)
    fire(case, "publish", user("window"), {}, runtime=runtime)
    commit()
    assert case.state == "in_fulfilment"
    return case


def open_check(runtime, commitment: Case | None = None, *, opener: str = "window",
               inspectors: tuple[str, ...] = ("inspector", "inspector2"), **extra) -> Case:
    commitment = commitment or commitment_in_fulfilment(runtime)
    data = {"commitment_case_id": commitment.id, "inspector_ids": [user(u).id for u in inspectors], **extra}
    case = open_case("onsite_verification", commitment.subject, user(opener), data, runtime=runtime)
    commit()
    return case


def add_photo(case: Case, runtime, content: bytes = PNG, by: str = "inspector", name: str = "shop.png"):
    attachment = save_photo(case, FileStorage(io.BytesIO(content), filename=name), user(by), runtime)
    commit()
    return attachment


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


def prepare(case: Case, trigger: str, runtime) -> None:
    """What a guard needs beyond the state: a photo before the record, both signatures before the report."""
    if trigger == "inspect" and not onsite.photos(case):
        add_photo(case, runtime)
    if trigger == "report" and not all(i.signed_at for i in onsite.verification(case).inspectors):
        fire(case, "countersign", user("inspector2"), INPUT["countersign"], runtime=runtime)
        commit()


def drive(case: Case, path: list[str], runtime) -> Case:
    for trigger in path:
        prepare(case, trigger, runtime)
        step = CT.step(trigger, case.state)
        fire(case, trigger, actor_for(step), INPUT.get(trigger, {}), runtime=runtime)
        commit()
    return case


@pytest.fixture
def case_in(runtime):
    def make(state: str, **kw) -> Case:
        case = drive(open_check(runtime, **kw), shortest_path(state), runtime)
        assert case.state == state
        return case

    return make


def events_of(case: Case) -> list[CaseEvent]:
    return list(db.session.execute(db.select(CaseEvent).where(CaseEvent.case_id == case.id)
                                   .order_by(CaseEvent.seq)).scalars())


def reasons_of(info) -> list[str]:
    return info.value.details["reasons"]


# --- the table itself -------------------------------------------------------------------------

def test_every_state_is_reachable_from_assigned():
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


def test_definition():
    assert (CT.key, CT.version, CT.reference_prefix, str(CT.initial)) == ("onsite_verification", 1, "XC", "assigned")
    assert set(CT.terminal) == {"reported", "cancelled"}
    assert str(CT.create_permission) == "check:request"
    assert {t.kind: (t.budget(Rules()), t.unit, t.expiry_trigger) for t in CT.timers} == {
        "visit": (10, "wd", None), "report": (3, "wd", None)}
    # Every visit step is an inspector's; cancelling is the ordering office's.
    assert {s.trigger: str(s.permission) for s in CT.steps} == {
        "schedule": "case:inspect", "reschedule": "case:inspect", "inspect": "case:inspect",
        "countersign": "case:inspect", "report": "case:inspect", "cancel": "check:request"}
    assert all(s.label_zh and s.label_en for s in State)


def test_machine_is_shared_and_leaves_no_model_bound():
    machine = CT.machine
    assert CT.apply("inspected", "countersign") == "inspected"
    assert CT.machine is machine and machine.models == []


def test_rules_are_configuration():
    assert Rules({"onsite.visit_wd": 5})["onsite.visit_wd"] == 5
    with pytest.raises(KeyError):
        Rules({"onsite.visit_days": 5})


# --- every (state, trigger) pair --------------------------------------------------------------

@pytest.mark.parametrize("state,trigger", sorted(ALLOWED))
def test_allowed_pair_reaches_its_target(ctx, demo, runtime, case_in, state, trigger):
    case = case_in(state)
    prepare(case, trigger, runtime)
    step = ALLOWED[(state, trigger)]
    before = len(case.events)
    event = fire(case, trigger, actor_for(step), INPUT.get(trigger, {}), runtime=runtime)
    commit()
    assert case.state == step.target
    assert (event.from_state, event.to_state, event.trigger) == (state, step.target, trigger)
    assert len(case.events) == before + 1
    assert (case.closed_at is not None) == CT.is_terminal(step.target)


REFUSED = [(s, t) for s in ALL_STATES for t in ALL_TRIGGERS if (s, t) not in ALLOWED]


@pytest.mark.parametrize("state,trigger", REFUSED)
def test_refused_pair_is_409_with_reasons(ctx, demo, runtime, case_in, state, trigger):
    case = case_in(state)
    version = case.version
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, trigger, actor_for(CT.any_step(trigger)), INPUT.get(trigger, {}), runtime=runtime)
    db.session.rollback()
    assert info.value.http_status == 409
    assert reasons_of(info) and info.value.details["state"] == state
    assert db.session.get(Case, case.id).state == state
    assert db.session.get(Case, case.id).version == version


def test_unknown_trigger_is_404(ctx, demo, runtime):
    with pytest.raises(UnknownTrigger) as info:
        fire(open_check(runtime), "approve", user("inspector"), {}, runtime=runtime)
    assert info.value.http_status == 404


# --- who acts -----------------------------------------------------------------------------------

@pytest.mark.parametrize("trigger,state,wrong_user,error", [
    ("schedule", "assigned", "window", Forbidden),        # staff do not visit
    ("schedule", "assigned", "enterprise", Forbidden),    # the subject sees the check, never acts on it
    ("inspect", "scheduled", "admin", Forbidden),
    ("report", "inspected", "mediator", NotFound),        # another trade does not even see it
    ("cancel", "assigned", "inspector", Forbidden),       # inspectors visit; the ordering office cancels
    ("cancel", "scheduled", "enterprise", Forbidden),
    ("cancel", "assigned", "reviewer", NotFound),         # a department that does not own the commitment
])
def test_wrong_actor_is_refused(ctx, demo, runtime, case_in, trigger, state, wrong_user, error):
    case = case_in(state)
    with pytest.raises(error):
        fire(case, trigger, user(wrong_user), INPUT.get(trigger, {}), runtime=runtime)
    db.session.rollback()
    assert db.session.get(Case, case.id).state == state


@pytest.mark.parametrize("trigger,state", [("schedule", "assigned"), ("reschedule", "scheduled"),
                                           ("inspect", "scheduled"), ("countersign", "inspected")])
def test_guard_assigned_inspector_blocks_another_inspector_naming_why(ctx, demo, runtime, case_in, trigger, state):
    case = case_in(state)
    prepare(case, trigger, runtime)
    stranger = third_inspector()
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, trigger, stranger, INPUT[trigger], runtime=runtime)
    db.session.rollback()
    assert reasons_of(info) == [onsite.NOT_ASSIGNED]
    # The engine offers the stranger the step only as blocked, with the same reason.
    offered = {a.trigger: a for a in available_actions(db.session.get(Case, case.id), stranger, runtime=runtime)}
    assert offered[trigger].enabled is False and offered[trigger].reasons == [onsite.NOT_ASSIGNED]


def test_guard_assigned_inspector_blocks_the_report_too(ctx, demo, runtime, case_in):
    case = case_in("inspected")
    fire(case, "countersign", user("inspector2"), INPUT["countersign"], runtime=runtime)
    commit()
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "report", third_inspector(), INPUT["report"], runtime=runtime)
    assert reasons_of(info) == [onsite.NOT_ASSIGNED]


def test_either_assigned_inspector_may_act(ctx, demo, runtime):
    case = open_check(runtime)
    fire(case, "schedule", user("inspector2"), INPUT["schedule"], runtime=runtime)
    commit()
    add_photo(case, runtime, by="inspector2")
    fire(case, "inspect", user("inspector2"), INPUT["inspect"], runtime=runtime)
    fire(case, "countersign", user("inspector"), INPUT["countersign"], runtime=runtime)
    commit()
    assert case.state == "inspected" and all(i.signed_at for i in onsite.verification(case).inspectors)


def test_applicant_sees_the_check_but_is_offered_nothing(ctx, demo, runtime, case_in):
    case = case_in("scheduled")
    assert available_actions(case, user("enterprise"), runtime=runtime) == []
    assert available_actions(case, user("person"), runtime=runtime) == []  # another subject's: invisible


# --- guards -------------------------------------------------------------------------------------

def test_guard_visit_date_passes_today_and_on_the_last_day(ctx, demo, runtime):
    case = open_check(runtime)
    due = onsite.describe(case, runtime)["visit_due"]
    assert due == "2026-04-27"  # 10 WD after Monday 2026-04-13
    fire(case, "schedule", user("inspector"), {"visit_on": "2026-04-13"}, runtime=runtime)
    fire(case, "reschedule", user("inspector"), {"visit_on": due}, runtime=runtime)
    commit()
    assert onsite.verification(case).visit_on == date(2026, 4, 27)


@pytest.mark.parametrize("visit_on,needle", [("2026-04-10", "2026-04-10"), ("2026-04-28", "2026-04-27")])
def test_guard_visit_date_blocks_the_past_and_after_the_time_limit(ctx, demo, runtime, visit_on, needle):
    case = open_check(runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "schedule", user("inspector"), {"visit_on": visit_on}, runtime=runtime)
    assert len(reasons_of(info)) == 1 and needle in reasons_of(info)[0]


def test_guard_photos_taken_blocks_the_record_until_a_photo_is_uploaded(ctx, demo, runtime, case_in):
    case = case_in("scheduled")
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "inspect", user("inspector"), INPUT["inspect"], runtime=runtime)
    db.session.rollback()
    assert reasons_of(info) == ["须先上传至少 1 张现场照片（已上传 0 张） / upload at least 1 site photo(s) first (0 so far)"]
    add_photo(case, runtime, JPEG, name="front.jpg")
    fire(case, "inspect", user("inspector"), INPUT["inspect"], runtime=runtime)
    commit()
    assert case.state == "inspected"
    materials = case.events[-1].payload["materials"]
    assert [(m["filename"], len(m["sha256"])) for m in materials] == [("front.jpg", 64)]


def test_guard_not_signed_yet_blocks_a_second_signature(ctx, demo, runtime, case_in):
    case = case_in("inspected")
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "countersign", user("inspector"), INPUT["countersign"], runtime=runtime)
    assert reasons_of(info) == ["您已签名确认现场核查记录 / you have already signed the on-site record"]


def test_guard_all_inspectors_signed_blocks_the_report_naming_who_is_missing(ctx, demo, runtime, case_in):
    case = case_in("inspected")
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "report", user("inspector"), INPUT["report"], runtime=runtime)
    db.session.rollback()
    assert len(reasons_of(info)) == 1 and "现场核查员二" in reasons_of(info)[0]
    fire(case, "countersign", user("inspector2"), INPUT["countersign"], runtime=runtime)
    fire(case, "report", user("inspector"), INPUT["report"], runtime=runtime)
    commit()
    assert case.state == "reported"


# --- input --------------------------------------------------------------------------------------

@pytest.mark.parametrize("trigger,state,data,field", [
    ("schedule", "assigned", {}, "visit_on"),
    ("schedule", "assigned", {"visit_on": "15/04/2026"}, "visit_on"),
    ("inspect", "scheduled", {**INPUT["inspect"], "signer_name": ""}, "signer_name"),
    ("inspect", "scheduled", {**INPUT["inspect"], "subject_signature": "refused"}, "refusal_reason"),
    ("inspect", "scheduled", {**INPUT["inspect"], "subject_signature": "maybe"}, "subject_signature"),
    ("inspect", "scheduled", {**INPUT["inspect"], "inspector_signs": False}, "inspector_signs"),
    ("inspect", "scheduled", {**INPUT["inspect"], "observations": ""}, "observations"),
    ("countersign", "inspected", {}, "inspector_signs"),
    ("report", "inspected", {"result": "nonconforming", "findings": ""}, "findings"),
    ("report", "inspected", {"result": "fine"}, "result"),
    ("cancel", "assigned", {}, "reason"),
])
def test_invalid_step_input_is_422_naming_the_field(ctx, demo, runtime, case_in, trigger, state, data, field):
    case = case_in(state)
    with pytest.raises(InvalidInput) as info:
        fire(case, trigger, actor_for(CT.step(trigger, state), trigger), data, runtime=runtime)
    assert info.value.http_status == 422 and field in info.value.details["fields"]


def test_a_refusal_to_sign_is_recorded_with_its_reason(ctx, demo, runtime, case_in):
    case = case_in("scheduled")
    add_photo(case, runtime)
    fire(case, "inspect", user("inspector"), {**INPUT["inspect"], "subject_signature": "refused", "signer_name": "",
                                              "refusal_reason": "负责人称须请示总公司，拒绝签字"}, runtime=runtime)
    commit()
    row = onsite.verification(case)
    assert row.subject_signed_at is None and row.subject_refusal_reason == "负责人称须请示总公司，拒绝签字"
    assert "拒绝签字" in case.events[-1].reason
    assert onsite.describe(case, runtime)["subject_signature"] == "refused"


def test_a_signed_record_keeps_signer_time_and_the_inspectors_signature(ctx, demo, runtime, clock, case_in):
    case = case_in("scheduled")
    add_photo(case, runtime)
    clock.set(at(2026, 4, 15, 10))
    fire(case, "inspect", user("inspector"), INPUT["inspect"], runtime=runtime)
    commit()
    row = onsite.verification(case)
    assert (row.subject_signer_name, row.subject_signed_at) == ("李某", at(2026, 4, 15, 10))
    signatures = {i.user.username: i.signed_at for i in row.inspectors}
    assert signatures == {"inspector": at(2026, 4, 15, 10), "inspector2": None}
    clock.set(at(2026, 4, 15, 11))
    fire(case, "countersign", user("inspector2"), INPUT["countersign"], runtime=runtime)
    commit()
    assert {i.user.username: i.signed_at for i in row.inspectors}["inspector2"] == at(2026, 4, 15, 11)


# --- opening ------------------------------------------------------------------------------------

def test_opening_links_assigns_and_starts_the_visit_clock(ctx, demo, runtime):
    commitment = commitment_in_fulfilment(runtime)
    case = open_check(runtime, commitment, scope="核查是否销售不合格建材")
    row = db.session.get(OnsiteVerification, case.id)
    assert case.reference.startswith("XC-2026-") and case.state == "assigned" and case.definition_version == 1
    assert case.department_id == commitment.department_id and case.applicant.username == "enterprise"
    assert [c.id for c in linked_cases(commitment, "onsite_verification")] == [case.id]
    assert [c.id for c in linking_cases(case, "onsite_verification")] == [commitment.id]
    assert sorted(i.user.username for i in row.inspectors) == ["inspector", "inspector2"]
    visit = next(d for d in case.deadlines if d.kind == "visit")
    assert (visit.start_on, visit.due_on, visit.status) == (date(2026, 4, 13), date(2026, 4, 27), "open")
    told = db.session.execute(db.select(OutboxMessage).where(
        OutboxMessage.case_id == case.id, OutboxMessage.event == "onsite-assigned")).scalars().all()
    assert sorted(m.recipient.username for m in told) == ["inspector", "inspector2"]
    assert "核查是否销售不合格建材" in told[0].body


@pytest.mark.parametrize("names,needle", [
    (("inspector",), "须指派 2 名"),
    (("inspector", "inspector"), "重复指派"),
    (("inspector", "inspector2", "inspector"), "重复指派"),
    (("inspector", "window"), "在岗核查人员"),
])
def test_exactly_two_distinct_inspectors_are_assigned(ctx, demo, runtime, names, needle):
    with pytest.raises(InvalidInput) as info:
        open_check(runtime, inspectors=names)
    assert needle in info.value.details["fields"]["inspector_ids"][0]


def test_an_inactive_inspector_cannot_be_assigned(ctx, demo, runtime):
    user("inspector2").active = False
    commit()
    with pytest.raises(InvalidInput):
        open_check(runtime)


def test_only_a_commitment_in_fulfilment_is_checked(ctx, demo, runtime):
    applicant = user("enterprise")
    signed = open_case("credit_commitment", applicant.subjects[0], applicant,
                       {"commitment_type": "voluntary", "matter": MATTER}, runtime=runtime)
    fire(signed, "sign", applicant, {"signer_name": "李某", "commitment_accepted": True}, runtime=runtime)
    commit()
    with pytest.raises(TransitionNotAllowed) as info:
        open_check(runtime, signed)
    assert "已签署" in reasons_of(info)[0]


def test_one_open_check_per_commitment(ctx, demo, runtime):
    commitment = commitment_in_fulfilment(runtime)
    first = open_check(runtime, commitment)
    with pytest.raises(TransitionNotAllowed) as info:
        open_check(runtime, commitment)
    db.session.rollback()
    assert first.reference in reasons_of(info)[0]
    fire(first, "cancel", user("window"), INPUT["cancel"], runtime=runtime)
    commit()
    assert open_check(runtime, commitment).state == "assigned"  # once the first is over, a new one may follow


def test_a_commitment_of_another_subject_or_type_is_422(ctx, demo, runtime):
    commitment = commitment_in_fulfilment(runtime)
    other_subject = next(s for s in user("enterprise").subjects if s.id != commitment.subject_id)
    data = {"commitment_case_id": commitment.id, "inspector_ids": [user("inspector").id, user("inspector2").id]}
    with pytest.raises(InvalidInput) as info:
        open_case("onsite_verification", other_subject, user("window"), data, runtime=runtime)
    assert "commitment_case_id" in info.value.details["fields"]
    db.session.rollback()
    check = open_check(runtime, commitment)
    with pytest.raises(InvalidInput):
        open_case("onsite_verification", check.subject, user("window"), {**data, "commitment_case_id": check.id},
                  runtime=runtime)


@pytest.mark.parametrize("who,error", [("enterprise", Forbidden), ("inspector", Forbidden), ("reviewer", Forbidden),
                                       ("market", Forbidden)])
def test_only_the_credit_center_or_the_commitments_department_opens(ctx, demo, runtime, who, error):
    commitment = commitment_in_fulfilment(runtime)  # its department is the credit center
    with pytest.raises(error):
        open_check(runtime, commitment, opener=who)


def test_the_commitments_own_department_opens_and_cancels(ctx, demo, runtime):
    commitment = commitment_in_fulfilment(runtime)
    # A commitment accepted by the law-enforcement bureau (as one opened by its own case would be).
    commitment.department_id = db.session.execute(
        db.select(Department.id).where(Department.code == "law-enforcement")).scalar_one()
    commit()
    with pytest.raises(Forbidden):
        open_check(runtime, commitment, opener="market")
    db.session.rollback()
    case = open_check(runtime, commitment, opener="reviewer")
    assert case.department.code == "law-enforcement"
    fire(case, "cancel", user("head"), INPUT["cancel"], runtime=runtime)
    commit()
    assert case.state == "cancelled"


# --- photos -------------------------------------------------------------------------------------

def test_photos_are_checked_by_who_when_type_and_size(ctx, demo, runtime, monkeypatch, case_in):
    case = case_in("assigned")
    with pytest.raises(TransitionNotAllowed):  # no visit scheduled yet
        add_photo(case, runtime)
    db.session.rollback()
    fire(case, "schedule", user("inspector"), INPUT["schedule"], runtime=runtime)
    commit()
    for who in ("enterprise", "window"):
        with pytest.raises(Forbidden):
            add_photo(case, runtime, by=who)
    db.session.rollback()
    with pytest.raises(Forbidden) as info:
        save_photo(case, FileStorage(io.BytesIO(PNG), filename="x.png"), third_inspector(), runtime)
    assert info.value.details["reasons"] == [onsite.NOT_ASSIGNED]
    with pytest.raises(InvalidInput) as info:
        add_photo(case, runtime, PDF, name="scan.png")  # the content decides, not the name
    assert info.value.details["allowed_types"] == ["image/jpeg", "image/png"]
    monkeypatch.setattr(runtime, "rules", Rules({"uploads.max_bytes": 40}))
    with pytest.raises(InvalidInput) as info:
        add_photo(case, runtime)
    assert info.value.details["max_bytes"] == 40
    monkeypatch.undo()
    photo = add_photo(case, runtime, JPEG, name="door.jpg")
    assert (photo.material_key, photo.content_type, photo.size_bytes) == ("photo", "image/jpeg", len(JPEG))
    assert [a.id for a in onsite.photos(case)] == [photo.id]


def test_no_photo_after_the_report(ctx, demo, runtime, case_in):
    case = case_in("reported")
    with pytest.raises(TransitionNotAllowed):
        add_photo(case, runtime)


# --- clocks -------------------------------------------------------------------------------------

def test_the_visit_clock_is_met_on_inspection_and_the_report_clock_runs_3_wd(ctx, demo, runtime, clock, case_in):
    case = case_in("scheduled")
    add_photo(case, runtime)
    clock.set(at(2026, 4, 30))  # Thursday; 05-01..05-05 are the Labour Day holidays
    fire(case, "inspect", user("inspector"), INPUT["inspect"], runtime=runtime)
    commit()
    by_kind = {d.kind: d for d in case.deadlines}
    assert by_kind["visit"].status == "met"
    assert (by_kind["report"].start_on, by_kind["report"].status) == (date(2026, 4, 30), "open")
    assert by_kind["report"].due_on == runtime.calendar().deadline(date(2026, 4, 30), 3, "wd")
    fire(case, "countersign", user("inspector2"), INPUT["countersign"], runtime=runtime)
    commit()
    assert [d.kind for d in case.deadlines if d.status == "open"] == ["report"]  # the self-loop starts nothing


def test_a_late_report_says_how_late_in_the_ledger(ctx, demo, runtime, clock, case_in):
    case = case_in("inspected")
    due = next(d for d in case.deadlines if d.kind == "report").due_on
    assert due == date(2026, 4, 16)
    fire(case, "countersign", user("inspector2"), INPUT["countersign"], runtime=runtime)
    clock.set(at(2026, 4, 20))
    fire(case, "report", user("inspector"), INPUT["report"], runtime=runtime)
    commit()
    assert case.events[-1].payload["late_by_days"] == 4
    assert next(d for d in case.deadlines if d.kind == "report").status == "met"


def test_cancelling_tells_the_inspectors_and_closes_the_visit_clock(ctx, demo, runtime, case_in):
    case = case_in("scheduled")
    fire(case, "cancel", user("window"), INPUT["cancel"], runtime=runtime)
    commit()
    assert case.closed_at is not None and case.events[-1].reason == INPUT["cancel"]["reason"]
    assert [d.status for d in case.deadlines] == ["met"]
    told = db.session.execute(db.select(OutboxMessage).where(
        OutboxMessage.case_id == case.id, OutboxMessage.event == "onsite-cancelled",
        OutboxMessage.recipient_user_id.in_([user("inspector").id, user("inspector2").id]))).scalars().all()
    assert len(told) == 2


# --- the report feeds the commitment ------------------------------------------------------------

def report(case: Case, runtime, **data) -> CaseEvent:
    if not all(i.signed_at for i in onsite.verification(case).inspectors):
        fire(case, "countersign", user("inspector2"), INPUT["countersign"], runtime=runtime)
    event = fire(case, "report", user("inspector"), {**INPUT["report"], **data}, runtime=runtime)
    commit()
    return event


def test_conforming_fulfils_the_commitment_in_the_same_transaction(ctx, demo, runtime, case_in):
    case = case_in("inspected")
    commitment = onsite.verification(case).commitment_case
    event = report(case, runtime)
    assert commitment.state == "fulfilled" and commitment.closed_at is not None
    last = events_of(commitment)[-1]
    assert (last.trigger, last.actor_role) == ("confirm_by_onsite_check", "system")
    assert case.reference in last.reason
    assert event.payload["commitment"] == {"reference": commitment.reference, "outcome": "fulfilled"}
    assert onsite.verification(case).commitment_outcome == "fulfilled"
    assert db.session.execute(db.select(OutboxMessage).where(
        OutboxMessage.case_id == commitment.id, OutboxMessage.event == "commitment-fulfilled")).first()


def test_nonconforming_flags_a_suspected_breach_with_the_findings(ctx, demo, runtime, case_in):
    case = case_in("inspected")
    commitment = onsite.verification(case).commitment_case
    findings = "仓库内存放无合格证明的钢材12吨"
    event = report(case, runtime, result="nonconforming", findings=findings)
    assert commitment.state == "suspected_breach"
    last = events_of(commitment)[-1]
    assert last.trigger == "flag_by_onsite_check" and findings in last.reason
    assert event.payload["commitment"]["outcome"] == "suspected_breach"
    assert findings in event.reason
    # The credit center carries on with the commitment's own breach procedure.
    fire(commitment, "hold_prompt_interview", user("window"), {"reason": "请于三个工作日内参加提示约谈"},
         runtime=runtime)
    assert commitment.state == "prompt_interview"


def test_conforming_on_a_commitment_bound_to_an_open_case_is_noted_and_left(ctx, demo, runtime):
    commitment = commitment_in_fulfilment(runtime)
    applicant = user("enterprise")
    backing = open_case("credit_commitment", commitment.subject, applicant,
                        {"commitment_type": "voluntary", "matter": "另一件承诺"}, runtime=runtime)
    # As a repair or a 容缺 case would: the open case opened this commitment (link kind "commitment").
    db.session.add(CaseLink(from_case_id=backing.id, to_case_id=commitment.id, kind="commitment",
                            created_at=runtime.clock.now()))
    commit()
    case = drive(open_check(runtime, commitment), shortest_path("inspected"), runtime)
    event = report(case, runtime)
    assert case.state == "reported" and commitment.state == "in_fulfilment"
    noted = event.payload["commitment"]
    assert noted["outcome"] == "left" and noted["state"] == "in_fulfilment"
    assert backing.reference in noted["reasons"][0]
    assert onsite.verification(case).commitment_outcome == "left"
    assert [e.trigger for e in events_of(commitment)][-1] == "start_fulfilment"


@pytest.mark.parametrize("result", ["conforming", "nonconforming"])
def test_a_commitment_that_left_fulfilment_meanwhile_is_left_as_it_is(ctx, demo, runtime, case_in, result):
    case = case_in("inspected")
    commitment = onsite.verification(case).commitment_case
    fire(commitment, "suspect_breach", user("window"), {"source": "complaint", "reason": "群众投诉"}, runtime=runtime)
    commit()
    event = report(case, runtime, result=result, findings="现场发现问题")
    assert commitment.state == "suspected_breach" and events_of(commitment)[-1].trigger == "suspect_breach"
    assert event.payload["commitment"]["outcome"] == "left"


def test_a_refused_report_changes_neither_case(ctx, demo, runtime, case_in):
    case = case_in("inspected")
    commitment = onsite.verification(case).commitment_case
    with pytest.raises(TransitionNotAllowed):  # not countersigned yet
        fire(case, "report", user("inspector"), {"result": "nonconforming", "findings": "问题"}, runtime=runtime)
    db.session.rollback()
    assert db.session.get(Case, case.id).state == "inspected"
    assert db.session.get(Case, commitment.id).state == "in_fulfilment"


def test_the_internal_note_stays_out_of_the_ledger_and_the_description(ctx, demo, runtime, case_in):
    case = case_in("inspected")
    event = report(case, runtime, internal_note="负责人情绪激动，下次核查建议携带执法记录仪")
    row = onsite.verification(case)
    assert row.internal_note == "负责人情绪激动，下次核查建议携带执法记录仪"
    assert "internal_note" not in event.payload and len(event.payload["internal_note_sha256"]) == 64
    assert "执法记录仪" not in str(onsite.describe(case, runtime)) and "执法记录仪" not in event.reason
    assert onsite.describe(case, runtime)["result"] == "conforming"


def test_the_commitment_steps_are_the_systems_alone(ctx, demo, runtime):
    commitment = commitment_in_fulfilment(runtime)
    for who in ("window", "inspector", "admin"):
        with pytest.raises((Forbidden, NotFound)):
            fire(commitment, "confirm_by_onsite_check", user(who), {}, runtime=runtime)
        db.session.rollback()
    assert db.session.get(Case, commitment.id).state == "in_fulfilment"
