"""The verification machine (信用核查): every allowed (state, trigger) reaches its target through
fire(), every other pair is refused, every guard passes and blocks with its reason, every state is
reachable and the terminal state has no exits; the result classes, the records that are no basis,
the frozen snapshot, and the API other case types call.

Demo data on the fixture day 2026-04-13: subject 1 (company) has an active 一般 record (2026-01-12)
and a 严重 record decided only on 2026-08-10; subject 2 (shop) has a 轻微 record decided 2026-10-15,
so it is clean today; subject 3 (natural person) has an active 一般 record.
"""
from __future__ import annotations

import hashlib
import json
from collections import deque
from datetime import date, datetime, timezone

import pytest

from models import Case, CaseLink, CreditCheck, CreditRecord, Subject, User, db
from models.permissions import SYSTEM
from webapp.views.common import commit
from workflows.base import get_case_type
from workflows.clock import BEIJING
from workflows.errors import Forbidden, InvalidInput, NotFound, TransitionNotAllowed, UnknownTrigger
from workflows.ledger import verify_case
from workflows.service import StepContext, available_actions, fire, linked_cases, linking_cases, open_case
from workflows.verification import (
    State,
    canonical_json,
    check_of,
    measure_has_basis,
    passes_for_deficiency,
    run_check,
    snapshot_taken,
)

CT = get_case_type("verification")
ALL_STATES = [s.value for s in State]
ALL_TRIGGERS = sorted(CT.triggers)
ALLOWED = {(src, s.trigger): s for s in CT.steps for src in s.source}

OPEN = {"matter_type": "bidding", "matter": "文登区2026年道路养护项目（招标编号 WD-2026-017）",
        "purpose": "招标投标资格审查：核查投标人信用状况"}
INPUT = {"record_use": {"measure": "require_commitment", "note": "要求投标人签署信用承诺后参加投标"}}


def user(name: str) -> User:
    return db.session.execute(db.select(User).where(User.username == name)).scalar_one()


def subject(subject_id: int) -> Subject:
    return db.session.get(Subject, subject_id)


def actor_for(step):
    return SYSTEM if step.is_system else user("reviewer")


def new_check(runtime, subject_id: int = 1, actor: str = "reviewer", **data) -> Case:
    case = run_check(subject=subject(subject_id), actor=user(actor), runtime=runtime, **{**OPEN, **data})
    commit()
    return case


@pytest.fixture
def manual(monkeypatch):
    """The machine with its automatic chain switched off, so that a case can rest in requested or queried."""
    monkeypatch.setattr(CT, "automatic", {})


def case_in(state: str, runtime, monkeypatch) -> Case:
    """A case put in `state` by a legal path through fire(). Opening runs the automatic steps up to
    result_issued, so the two states before it are reached with the automatic chain switched off."""
    if state in (State.REQUESTED, State.QUERIED):
        monkeypatch.setattr(CT, "automatic", {})
    case = open_case("verification", subject(1), user("reviewer"), OPEN, runtime=runtime)
    commit()
    for trigger in shortest_path(case.state, state):
        step = CT.step(trigger, case.state)
        fire(case, trigger, actor_for(step), INPUT.get(trigger, {}), runtime=runtime)
        commit()
    assert case.state == state
    return case


def shortest_path(start: str, target: str) -> list[str]:
    queue = deque([(start, [])])
    seen = {start}
    while queue:
        state, path = queue.popleft()
        if state == target:
            return path
        for step in CT.steps_from(state):
            if step.target not in seen:
                seen.add(step.target)
                queue.append((step.target, path + [step.trigger]))
    raise AssertionError(f"{target} unreachable from {start}")


def add_record(subject_id: int, **fields) -> CreditRecord:
    values = {"kind": "dishonesty", "severity": "general", "title": "测试记录", "category": "administrative_penalty",
              "decided_on": date(2026, 3, 1), "department_id": 2, "points": -10, "status": "active"}
    record = CreditRecord(subject_id=subject_id, **{**values, **fields})
    db.session.add(record)
    commit()
    return record


# --- the table itself -------------------------------------------------------------------------

def test_definition():
    assert (CT.key, CT.version, CT.reference_prefix) == ("verification", 1, "HC")
    assert str(CT.create_permission) == "check:request"
    assert CT.automatic == {"requested": "query", "queried": "issue_result"}
    assert [(s.value, s.label_zh) for s in State] == [
        ("requested", "已申请核查"), ("queried", "已查询"), ("result_issued", "已出具结果"), ("applied", "已记录使用情况")]
    assert all(s.label_en for s in State)


def test_every_state_is_reachable_from_requested():
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
    assert CT.terminal == ("applied",)


def test_machine_is_shared_and_leaves_no_model_bound():
    machine = CT.machine
    CT.apply("requested", "query")
    assert CT.machine is machine and machine.models == []


# --- every (state, trigger) pair --------------------------------------------------------------

@pytest.mark.parametrize("state,trigger", sorted(ALLOWED))
def test_allowed_pair_reaches_its_target(ctx, demo, runtime, monkeypatch, state, trigger):
    case = case_in(state, runtime, monkeypatch)
    step = ALLOWED[(state, trigger)]
    before = len(case.events)
    event = fire(case, trigger, actor_for(step), INPUT.get(trigger, {}), runtime=runtime)
    commit()
    assert case.state == step.target
    assert event.from_state == state and event.to_state == step.target
    assert len(case.events) == before + 1


REFUSED = [(s, t) for s in ALL_STATES for t in ALL_TRIGGERS if (s, t) not in ALLOWED]


@pytest.mark.parametrize("state,trigger", REFUSED)
def test_refused_pair_is_409_with_reasons(ctx, demo, runtime, monkeypatch, state, trigger):
    case = case_in(state, runtime, monkeypatch)
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
    case = new_check(runtime)
    with pytest.raises(UnknownTrigger) as info:
        fire(case, "approve", user("reviewer"), {}, runtime=runtime)
    assert info.value.http_status == 404


# --- opening: the automatic steps issue the result at once --------------------------------------

def test_opening_issues_the_result_at_once_with_system_events_in_the_ledger(ctx, demo, runtime):
    case = new_check(runtime)
    assert case.state == "result_issued" and case.reference.startswith("HC-2026-")
    assert case.department.code == "law-enforcement" and case.closed_at is None
    events = [(e.trigger, e.from_state, e.to_state, e.actor_role) for e in case.events]
    assert events == [("open", None, "requested", "reviewer"), ("query", "requested", "queried", "system"),
                      ("issue_result", "queried", "result_issued", "system")]
    opened, queried, issued = case.events
    # Who asked, in which role, for what and why: a shared-data query is accountable.
    assert opened.actor_name == user("reviewer").name and opened.payload == OPEN
    assert OPEN["purpose"] in opened.reason
    check = check_of(case)
    assert queried.payload["snapshot_sha256"] == check.snapshot_sha256 == issued.payload["snapshot_sha256"]
    assert issued.payload["result"] == check.result == "has_dishonesty"
    assert all(e.occurred_at == datetime(2026, 4, 13, 1, 0, tzinfo=timezone.utc) for e in case.events)
    assert verify_case(list(case.events)) is None


def test_the_snapshot_is_fingerprinted_with_its_canonical_json(ctx, demo, runtime):
    check = check_of(new_check(runtime))
    db.session.expire_all()
    check = db.session.get(CreditCheck, check.case_id)
    expected = hashlib.sha256(
        json.dumps(check.snapshot, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    ).hexdigest()
    assert check.snapshot_sha256 == expected
    assert canonical_json(check.snapshot).startswith('{"checked_at":"2026-04-13T09:00:00+08:00"')
    assert check.checked_at == datetime(2026, 4, 13, 1, 0, tzinfo=timezone.utc)
    assert check.requested_by_id == user("reviewer").id
    assert (check.matter_type, check.matter, check.purpose) == (OPEN["matter_type"], OPEN["matter"], OPEN["purpose"])


def test_snapshot_lists_each_record_and_the_subject(ctx, demo, runtime):
    snapshot = check_of(new_check(runtime)).snapshot
    assert snapshot["checked_on"] == "2026-04-13"
    assert snapshot["subject"] == {"id": 1, "name": "威海文登示范建材有限公司", "kind": "legal_person",
                                   "identifier": subject(1).uscc}
    assert snapshot["records"] == [{
        "id": 1, "title": "违法建设行政处罚（较重罚款）", "severity": "general", "category": "administrative_penalty",
        "decided_on": "2026-01-12", "document_no": "文综执罚〔2026〕12号", "department": "文登区综合行政执法局",
        "status": "active"}]


def test_a_natural_persons_identifier_is_masked_in_the_snapshot(ctx, demo, runtime):
    check = check_of(new_check(runtime, subject_id=3))
    person = subject(3)
    identifier = check.snapshot["subject"]["identifier"]
    assert identifier == person.masked_identifier and "*" in identifier
    assert person.id_number not in canonical_json(check.snapshot)


# --- who may do what --------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["enterprise", "person", "admin", "auditor"])
def test_only_reviewers_may_request_a_check(ctx, demo, runtime, username):
    with pytest.raises(Forbidden) as info:
        run_check(subject=subject(1), actor=user(username), runtime=runtime, **OPEN)
    assert info.value.http_status == 403
    db.session.rollback()
    assert db.session.query(CreditCheck).count() == 0


@pytest.mark.parametrize("username", ["reviewer", "market", "window"])
def test_a_reviewer_of_any_department_may_request_one(ctx, demo, runtime, username):
    case = new_check(runtime, actor=username)
    assert case.state == "result_issued" and case.department_id == user(username).department_id


@pytest.mark.parametrize("trigger,state,wrong_user,error", [
    ("record_use", "result_issued", "window", Forbidden),     # the credit center sees it, but did not ask
    ("record_use", "result_issued", "head", None),             # same department as the requester: allowed
    ("record_use", "result_issued", "admin", Forbidden),
    ("record_use", "result_issued", "auditor", Forbidden),
    ("record_use", "result_issued", "market", NotFound),       # another department cannot even see the check
    ("record_use", "result_issued", "enterprise", NotFound),   # 政务共享: the checked subject does not see it
    ("query", "requested", "reviewer", Forbidden),             # system steps are the clock's alone
    ("issue_result", "queried", "admin", Forbidden),
])
def test_actors(ctx, demo, runtime, monkeypatch, trigger, state, wrong_user, error):
    case = case_in(state, runtime, monkeypatch)
    data = INPUT.get(trigger, {})
    if error is None:
        fire(case, trigger, user(wrong_user), data, runtime=runtime)
        assert case.state == CT.step(trigger, state).target
        return
    with pytest.raises(error):
        fire(case, trigger, user(wrong_user), data, runtime=runtime)


@pytest.mark.parametrize("data,field", [
    ({**OPEN, "purpose": ""}, "purpose"),
    ({"matter_type": "bidding", "matter": "项目"}, "purpose"),
    ({**OPEN, "matter_type": "curiosity"}, "matter_type"),
    ({**OPEN, "matter": ""}, "matter"),
])
def test_opening_without_a_valid_matter_or_purpose_is_422(ctx, demo, runtime, data, field):
    with pytest.raises(InvalidInput) as info:
        open_case("verification", subject(1), user("reviewer"), data, runtime=runtime)
    assert info.value.http_status == 422 and field in info.value.details["fields"]


@pytest.mark.parametrize("data,field", [
    ({"measure": "ignore", "note": "说明"}, "measure"),
    ({"measure": "normal"}, "note"),
    ({"note": "说明"}, "measure"),
])
def test_record_use_input_is_validated(ctx, demo, runtime, data, field):
    case = new_check(runtime)
    with pytest.raises(InvalidInput) as info:
        fire(case, "record_use", user("reviewer"), data, runtime=runtime)
    assert field in info.value.details["fields"]


def test_available_actions_per_role(ctx, demo, runtime):
    case = new_check(runtime)
    assert [a.trigger for a in available_actions(case, user("reviewer"), runtime=runtime)] == ["record_use"]
    for name in ("window", "admin", "auditor", "market", "enterprise"):
        assert available_actions(case, user(name), runtime=runtime) == []
    fire(case, "record_use", user("reviewer"), INPUT["record_use"], runtime=runtime)
    assert available_actions(case, user("reviewer"), runtime=runtime) == []


# --- guards -----------------------------------------------------------------------------------

def test_guard_measure_has_basis_blocks_a_restrictive_measure_on_a_clean_result(ctx, demo, runtime):
    case = new_check(runtime, subject_id=2)
    assert check_of(case).result == "clean"
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "record_use", user("reviewer"), {"measure": "restrict", "note": "不予办理"}, runtime=runtime)
    assert any("no basis" in r and "限制或不予办理" in r for r in info.value.details["reasons"])
    db.session.rollback()
    fire(case, "record_use", user("reviewer"), {"measure": "normal", "note": "信用良好，正常办理"}, runtime=runtime)
    assert case.state == "applied"


@pytest.mark.parametrize("measure", ["restrict", "key_supervision", "deficiency_refused"])
def test_guard_measure_has_basis_passes_when_the_check_found_a_record(ctx, demo, runtime, measure):
    case = new_check(runtime, subject_id=1)
    fire(case, "record_use", user("reviewer"), {"measure": measure, "note": "依据核查结果处理"}, runtime=runtime)
    commit()
    assert case.state == "applied" and case.closed_at is not None
    check = check_of(case)
    assert check.use_recorded.endswith("依据核查结果处理")
    assert case.events[-1].payload == {"measure": measure, "note": "依据核查结果处理"}


def _ctx(case, runtime, **data) -> StepContext:
    return StepContext(session=db.session, case=case, case_type=CT, actor=user("reviewer"), runtime=runtime,
                       now=runtime.clock.now(), data=data)


def test_guard_snapshot_taken(ctx, demo, runtime, manual):
    case = open_case("verification", subject(1), user("reviewer"), OPEN, runtime=runtime)
    assert case.state == "requested"
    assert "not been queried" in snapshot_taken(_ctx(case, runtime))
    assert CT.describe(case, runtime)["result"] is None and CT.describe(case, runtime)["snapshot_records"] == []
    fire(case, "query", SYSTEM, {}, runtime=runtime)
    assert snapshot_taken(_ctx(case, runtime)) is None


def test_guard_measure_has_basis_ignores_a_form_not_yet_filled(ctx, demo, runtime):
    case = new_check(runtime, subject_id=2)
    assert measure_has_basis(_ctx(case, runtime)) is None  # the button is drawn enabled
    assert measure_has_basis(_ctx(case, runtime, measure="key_supervision")) is not None


# --- result classes ---------------------------------------------------------------------------

def test_clean(ctx, demo, runtime):
    check = check_of(new_check(runtime, subject_id=2))  # its 轻微 record is decided only on 2026-10-15
    assert check.result == "clean" and check.snapshot["records"] == []


def test_a_minor_record_is_still_dishonesty(ctx, demo, runtime, clock):
    clock.set(datetime(2026, 10, 16, 9, tzinfo=BEIJING))
    check = check_of(new_check(runtime, subject_id=2))
    assert check.result == "has_dishonesty"
    assert [r["severity"] for r in check.snapshot["records"]] == ["minor"]


def test_has_dishonesty(ctx, demo, runtime):
    check = check_of(new_check(runtime, subject_id=1))
    assert check.result == "has_dishonesty"
    assert [r["id"] for r in check.snapshot["records"]] == [1]  # the 严重 record is not decided yet


def test_has_serious_once_the_serious_record_is_decided(ctx, demo, runtime, clock):
    clock.set(datetime(2026, 8, 11, 9, tzinfo=BEIJING))
    check = check_of(new_check(runtime, subject_id=1))
    assert check.result == "has_serious"
    assert [r["id"] for r in check.snapshot["records"]] == [1, 2]


def test_the_check_date_is_the_beijing_date(ctx, demo, runtime, clock):
    clock.set(datetime(2026, 8, 9, 20, 0, tzinfo=timezone.utc))  # 2026-08-10 04:00 in Beijing
    check = check_of(new_check(runtime, subject_id=1))
    assert check.snapshot["checked_on"] == "2026-08-10" and check.result == "has_serious"


def test_listed(ctx, demo, runtime):
    add_record(2, severity="serious", category="serious_dishonesty_list", title="列入严重失信主体名单")
    check = check_of(new_check(runtime, subject_id=2))
    assert check.result == "listed"


@pytest.mark.parametrize("category", ["false_commitment", "commitment_breach"])
def test_a_recorded_false_or_broken_commitment_counts_as_dishonesty(ctx, demo, runtime, category):
    add_record(2, category=category, title="告知承诺不实")
    check = check_of(new_check(runtime, subject_id=2))
    assert check.result == "has_dishonesty"
    assert "false or broken commitment" in passes_for_deficiency(check)


@pytest.mark.parametrize("fields", [
    {"status": "repaired", "repaired_on": date(2026, 4, 10)},
    {"status": "revoked"},
    {"valid_until": date(2026, 4, 12)},                                 # expired yesterday (C10)
    {"act_ended_on": date(2021, 4, 12), "decided_on": date(2021, 5, 1)},  # past the 5-year cap (SD-Cond §38)
    {"decided_on": date(2026, 4, 14)},                                  # not decided yet
    {"kind": "positive", "severity": None, "category": "volunteering", "points": 5},
])
def test_records_that_are_no_basis_are_left_out(ctx, demo, runtime, fields):
    add_record(2, **{"severity": "serious", **fields})
    check = check_of(new_check(runtime, subject_id=2))
    assert check.result == "clean" and check.snapshot["records"] == []


def test_a_record_repaired_later_today_is_already_no_basis(ctx, demo, runtime):
    record = db.session.get(CreditRecord, 1)
    record.status, record.repaired_on = "repaired", date(2026, 4, 13)
    commit()
    assert check_of(new_check(runtime, subject_id=1)).result == "clean"


# --- the snapshot is frozen -------------------------------------------------------------------

def test_later_record_changes_never_change_an_issued_check(ctx, demo, runtime):
    case = new_check(runtime, subject_id=1)
    check = check_of(case)
    before = (check.result, json.loads(json.dumps(check.snapshot)), check.snapshot_sha256, check.checked_at)
    record = db.session.get(CreditRecord, 1)
    record.status, record.repaired_on = "repaired", date(2026, 4, 13)
    add_record(1, severity="serious", category="serious_dishonesty_list", title="列入严重失信主体名单")
    db.session.expire_all()
    check = db.session.get(CreditCheck, case.id)
    assert (check.result, check.snapshot, check.snapshot_sha256, check.checked_at) == before
    # A new check sees the new picture.
    assert check_of(new_check(runtime, subject_id=1)).result == "listed"


@pytest.mark.parametrize("attribute,value", [
    ("snapshot", {"records": []}),
    ("result", "clean"),
    ("snapshot_sha256", "0" * 64),
    ("checked_at", datetime(2026, 4, 14, tzinfo=timezone.utc)),
    ("purpose", "另一个目的"),
])
def test_modifying_an_issued_check_through_the_orm_raises(ctx, demo, runtime, attribute, value):
    case = new_check(runtime)
    check = check_of(case)
    setattr(check, attribute, value)
    with pytest.raises(ValueError, match="immutable"):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(CreditCheck, case.id).result == "has_dishonesty"


def test_describe_notices_a_snapshot_edited_behind_the_orms_back(ctx, demo, runtime):
    case = new_check(runtime)
    assert CT.describe(case, runtime)["snapshot_intact"] is True
    db.session.execute(db.update(CreditCheck).where(CreditCheck.case_id == case.id)
                       .values(snapshot={"records": [], "forged": True}))
    db.session.expire_all()
    assert CT.describe(db.session.get(Case, case.id), runtime)["snapshot_intact"] is False


# --- the API other case types call ------------------------------------------------------------

def test_passes_for_deficiency(ctx, demo, runtime):
    assert passes_for_deficiency(check_of(new_check(runtime, subject_id=2))) is None
    reason = passes_for_deficiency(check_of(new_check(runtime, subject_id=1)))
    assert "有失信记录" in reason and "normal route" in reason


def test_passes_for_deficiency_refuses_an_unissued_check(ctx, demo, runtime, manual):
    case = open_case("verification", subject(2), user("reviewer"), OPEN, runtime=runtime)
    assert "not been issued" in passes_for_deficiency(check_of(case))


def test_run_check_links_from_the_case_that_asked(ctx, demo, runtime):
    repair = open_case("credit_repair", subject(1), user("enterprise"), {"record_id": 1}, runtime=runtime)
    check_case = run_check(subject=subject(1), actor=user("window"), runtime=runtime, link_from=repair, **OPEN)
    commit()
    assert check_case.state == "result_issued"
    assert linked_cases(repair, "credit_check") == [check_case]
    assert linking_cases(check_case) == [repair]
    assert db.session.query(CaseLink).one().kind == "credit_check"


def test_check_of_refuses_another_case_type(ctx, demo, runtime):
    repair = open_case("credit_repair", subject(1), user("enterprise"), {"record_id": 1}, runtime=runtime)
    with pytest.raises(ValueError):
        check_of(repair)


def test_describe(ctx, demo, runtime):
    case = new_check(runtime, subject_id=1)
    details = CT.describe(case, runtime)
    assert details["matter_type_label_zh"] == "招标投标" and details["matter"] == OPEN["matter"]
    assert details["purpose"] == OPEN["purpose"] and details["requested_by"] == user("reviewer").name
    assert details["requested_by_department_zh"] == "文登区综合行政执法局"
    assert details["requested_by_department_en"] == "Wendeng Comprehensive Administrative Law Enforcement Bureau"
    assert (details["result"], details["result_label_zh"]) == ("has_dishonesty", "有失信记录")
    assert details["checked_on"] == "2026-04-13" and details["snapshot_intact"] is True
    assert details["snapshot_subject"]["kind_label_zh"] == "法人"
    assert [(r["id"], r["severity_label_zh"]) for r in details["snapshot_records"]] == [(1, "一般")]
    assert details["use_recorded"] is None and details["use_measure"] is None
    fire(case, "record_use", user("reviewer"), INPUT["record_use"], runtime=runtime)
    details = CT.describe(case, runtime)
    assert details["use_measure"] == "require_commitment" and details["use_measure_label_zh"] == "要求信用承诺"
    assert details["use_recorded"] == "要求信用承诺：要求投标人签署信用承诺后参加投标"
