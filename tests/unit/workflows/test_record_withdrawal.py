"""The record withdrawal machine (信息撤回, DOMAIN.md §2.3 T10): every allowed (state, trigger)
reaches its target through fire(), every other pair is refused with reasons, terminal states have no
exits, only the providing department acts; the 3 WD run from the revocation; a change corrects the
record and a revocation deletes it, upholding open objections and ending listings that rest on it."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from models import Case, CreditRecord, RecordStatus, RecordWithdrawal, Subject, User, db
from models.permissions import SYSTEM
from webapp.views.common import commit
from workflows.base import get_case_type
from workflows.clock import BEIJING
from workflows.errors import Forbidden, InvalidInput, NotFound, TransitionNotAllowed
from workflows.record_withdrawal import State
from workflows.service import fire, open_case

CT = get_case_type("record_withdrawal")
ALL_STATES = [s.value for s in State]
ALLOWED = {(src, s.trigger): s for s in CT.steps for src in s.source}
OPEN_DATA = {"record_id": 1, "change": "revoke", "revoked_on": "2026-04-10",
             "document_no": "文登执法撤字〔2026〕1号", "reason": "行政复议决定撤销原处罚决定"}
INPUT = {"carry_out": {"note": "已撤回并报送平台"}, "cancel": {"reason": "报告有误"}}


def user(name: str) -> User:
    return db.session.execute(db.select(User).where(User.username == name)).scalar_one()


def new_case(runtime, data=None, by="reviewer") -> Case:
    case = open_case("record_withdrawal", db.session.get(Subject, 1), user(by), data or OPEN_DATA, runtime=runtime)
    commit()
    return case


def case_in(state: str, runtime) -> Case:
    case = new_case(runtime)
    if state != "reported":
        trigger = next(t for (src, t), step in ALLOWED.items() if step.target == state)
        fire(case, trigger, user("reviewer"), INPUT[trigger], runtime=runtime)
        commit()
    assert case.state == state
    return case


@pytest.fixture(autouse=True)
def monday(clock):
    clock.set(datetime(2026, 4, 13, 9, tzinfo=BEIJING))


def test_definition():
    assert (CT.key, CT.reference_prefix, CT.version, str(CT.initial)) == ("record_withdrawal", "CH", 1, "reported")
    assert {str(s) for s in CT.terminal} == {"done", "cancelled"}
    assert {step.target for step in CT.steps} | {"reported"} == set(ALL_STATES)


@pytest.mark.parametrize("state", ["done", "cancelled"])
def test_terminal_states_have_no_exits(state):
    assert CT.steps_from(state) == []


@pytest.mark.parametrize("state,trigger", sorted(ALLOWED))
def test_allowed_pair_reaches_its_target(ctx, demo, runtime, state, trigger):
    case = case_in(state, runtime)
    event = fire(case, trigger, user("reviewer"), INPUT[trigger], runtime=runtime)
    commit()
    target = ALLOWED[(state, trigger)].target
    assert (event.from_state, event.to_state, case.state) == (state, target, target)
    assert case.closed_at is not None  # both targets are terminal


REFUSED = [(s, t) for s in ALL_STATES for t in sorted(CT.triggers) if (s, t) not in ALLOWED]


@pytest.mark.parametrize("state,trigger", REFUSED)
def test_refused_pair_is_409_with_reasons(ctx, demo, runtime, state, trigger):
    case = case_in(state, runtime)
    version = case.version
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, trigger, user("reviewer"), INPUT[trigger], runtime=runtime)
    db.session.rollback()
    assert info.value.http_status == 409 and info.value.details["reasons"]
    assert db.session.get(Case, case.id).version == version


@pytest.mark.parametrize("trigger,who", [("carry_out", "market"), ("carry_out", "enterprise"), ("cancel", "window"),
                                         ("carry_out", "auditor")])
def test_only_the_providing_department_acts(ctx, demo, runtime, trigger, who):
    case = new_case(runtime)
    with pytest.raises((Forbidden, NotFound)):
        fire(case, trigger, user(who), INPUT[trigger], runtime=runtime)


def test_the_system_cannot_carry_it_out(ctx, demo, runtime):
    case = new_case(runtime)
    with pytest.raises(Forbidden):
        fire(case, "carry_out", SYSTEM, INPUT["carry_out"], runtime=runtime)


def test_the_clock_runs_from_the_revocation_not_the_report(ctx, demo, runtime):
    case = new_case(runtime, {**OPEN_DATA, "revoked_on": "2026-04-01"})  # Wed; 清明 4–6 April
    [deadline] = [d for d in case.deadlines if d.kind == "withdraw"]
    assert (deadline.start_on, deadline.due_on, deadline.responsible) == (date(2026, 4, 1), date(2026, 4, 7),
                                                                         "department")
    event = fire(case, "carry_out", user("reviewer"), INPUT["carry_out"], runtime=runtime)
    commit()
    assert event.payload["late_by_days"] == 6
    assert db.session.get(CreditRecord, 1).status == RecordStatus.REVOKED


def test_a_change_corrects_the_record_and_keeps_it(ctx, demo, runtime):
    case = new_case(runtime, {**OPEN_DATA, "change": "change", "title": "更正后的处罚信息", "points": -10})
    event = fire(case, "carry_out", user("reviewer"), INPUT["carry_out"], runtime=runtime)
    commit()
    record = db.session.get(CreditRecord, 1)
    assert (record.title, record.points, record.status) == ("更正后的处罚信息", -10, RecordStatus.ACTIVE)
    assert event.payload["corrected"]["after"] == {"title": "更正后的处罚信息", "points": -10}
    assert db.session.get(RecordWithdrawal, case.id).done_on == date(2026, 4, 13)


@pytest.mark.parametrize("data,error", [
    ({**OPEN_DATA, "change": "change"}, InvalidInput),                  # a change needs content
    ({**OPEN_DATA, "revoked_on": "2026-04-14"}, InvalidInput),          # in the future
    ({**OPEN_DATA, "record_id": 4}, NotFound),                          # another subject's record
    ({**OPEN_DATA, "change": "abolish"}, InvalidInput),
])
def test_bad_openings_are_refused(ctx, demo, runtime, data, error):
    with pytest.raises(error):
        open_case("record_withdrawal", db.session.get(Subject, 1), user("reviewer"), data, runtime=runtime)


def test_a_deleted_record_cannot_be_withdrawn_again(ctx, demo, runtime):
    case = new_case(runtime)
    fire(case, "carry_out", user("reviewer"), INPUT["carry_out"], runtime=runtime)
    commit()
    with pytest.raises(TransitionNotAllowed):
        new_case(runtime)
