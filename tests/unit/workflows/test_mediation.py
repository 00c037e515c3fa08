"""The mediation machine (信调委 调解, DOMAIN.md §7): every allowed (state, trigger) reaches its target
through fire(), every other pair is refused 409 with reasons, every guard passes and blocks with its
reason, wrong actors are refused, every state is reachable and the terminal state has no exits; plus
opening by a party, a referral or a mediator, the respondent's visibility, the timers, bad input
(422) and the §7.6 credit effect."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from models import Case, CreditRecord, MediationCase, OutboxMessage, Subject, User, db
from models.permissions import SYSTEM, can_view_case, visible_cases
from webapp.views.common import commit
from workflows.base import get_case_type
from workflows.clock import BEIJING
from workflows.errors import Forbidden, InvalidInput, NotFound, TransitionNotAllowed, UnknownTrigger
from workflows.mediation import State, open_mediation
from workflows.scoring import score_at
from workflows.service import available_actions, fire, open_case

CT = get_case_type("mediation")
ALL_STATES = [s.value for s in State]
ALL_TRIGGERS = sorted(CT.triggers)
ALLOWED = {(src, s.trigger): s for s in CT.steps for src in s.source}
START = datetime(2026, 2, 12, 9, tzinfo=BEIJING)

OPEN = {"respondent_subject_id": 3, "dispute": "货款纠纷：张某拖欠建材货款五万元，双方对金额有争议",
        "claims": "请求支付货款"}
OBLIGATIONS = [{"obligor": "respondent", "description": "支付建材货款", "amount": "50000", "due_on": "2026-03-31"}]

INPUT = {
    "record_consent": {"how": "书面同意书"},
    "consent": {"agree": True},
    "record_refusal": {"reason": "被申请人明确表示不同意调解"},
    "refuse": {"reason": "本人不同意调解"},
    "register": {},
    "assign_mediators": {"mediators": ["mediator"], "chosen_by": "committee"},
    "inform_rights": {"how": "written"},
    "log_session": {"participants": "调解员、李某（申请人）、张某（被申请人）", "applicant_said": "要求支付五万元",
                    "respondent_said": "同意分期支付", "proposals": "被申请人于3月31日前支付五万元",
                    "proposed_obligations": OBLIGATIONS},
    "extend": {"days": 30, "both_parties_consent": True},
    "withdraw": {"reason": "双方已自行和解"},
    "record_withdrawal": {"party": "applicant", "reason": "申请人要求终止调解"},
    "terminate": {"reason": "双方分歧较大，无法达成协议"},
    "record_agreement": {"facts": "被申请人拖欠货款五万元", "terms": "被申请人于3月31日前一次性支付货款五万元",
                         "obligations": OBLIGATIONS},
    "sign": {"signer": "applicant"},
    "take_effect": {},
    "apply_confirmation": {"court": "文登区人民法院", "parties": ["applicant", "respondent"]},
    "record_court_acceptance": {"accepted_on": None},  # filled with the day of the application
    "record_confirmed": {"ruling_no": "（2026）鲁1003民特1号"},
    "record_not_confirmed": {"reason": "协议内容不明确"},
    "start_performance": {},
    "mark_obligation": {"obligation": 1, "result": "performed", "note": "已电话回访"},
    "finish_performed": {},
    "finish_not_performed": {},
    "archive": {},
}
SIGNATURES = [{"signer": "applicant"}, {"signer": "respondent"}, {"signer": "mediator"}, {"signer": "seal"}]

BASE = [("record_consent", {}), ("register", {}), ("assign_mediators", {}), ("inform_rights", {})]
SIGNED = BASE + [("log_session", {}), ("record_agreement", {})]
EFFECTIVE = SIGNED + [("sign", s) for s in SIGNATURES] + [("take_effect", {})]
PERFORMING = EFFECTIVE + [("start_performance", {})]
PATHS = {
    "applied": [],
    "refused_closed": [("record_refusal", {})],
    "registered": BASE[:2],
    "mediator_assigned": BASE[:3],
    "mediating": BASE,
    "withdrawn": BASE + [("record_withdrawal", {})],
    "failed_terminated": BASE + [("terminate", {})],
    "agreement_signed": SIGNED,
    "agreement_effective": EFFECTIVE,
    "confirmation_applied": EFFECTIVE + [("apply_confirmation", {})],
    "confirmed": EFFECTIVE + [("apply_confirmation", {}), ("record_confirmed", {})],
    "not_confirmed": EFFECTIVE + [("apply_confirmation", {}), ("record_not_confirmed", {})],
    "performing": PERFORMING,
    "performed": PERFORMING + [("mark_obligation", {}), ("finish_performed", {})],
    "not_performed": PERFORMING + [("mark_obligation", {"result": "not_performed"}),
                                   ("finish_not_performed", {})],
    "archived": PERFORMING + [("mark_obligation", {}), ("finish_performed", {}), ("archive", {})],
}
#: What a step needs done first (on top of the path to its source state) for its guards to pass.
PREP = {
    "register": [("record_consent", {})],
    "record_agreement": [("log_session", {})],
    "take_effect": [("sign", s) for s in SIGNATURES],
    "finish_performed": [("mark_obligation", {})],
    "finish_not_performed": [("mark_obligation", {"result": "not_performed"})],
}


def user(name: str) -> User:
    return db.session.execute(db.select(User).where(User.username == name)).scalar_one()


def subject(subject_id: int) -> Subject:
    return db.session.get(Subject, subject_id)


def actor_for(trigger: str):
    step = CT.any_step(trigger)
    perm = str(step.permission)
    if perm == "case:system":
        return SYSTEM
    if perm == "case:applicant-act":
        # consent and refuse are the respondent's (person acts for subject 3); withdrawal either party's.
        return user("enterprise" if trigger == "withdraw" else "person")
    return user("mediator")


def data_for(trigger: str, extra: dict | None = None, case: Case | None = None) -> dict:
    data = {**INPUT.get(trigger, {}), **(extra or {})}
    if trigger == "record_court_acceptance" and data.get("accepted_on") is None and case is not None:
        data["accepted_on"] = db.session.get(MediationCase, case.id).confirmation_applied_on.isoformat()
    return data


def new_case(runtime, data: dict | None = None, applicant_subject: int = 1, by: str = "mediator") -> Case:
    case = open_mediation(subject(applicant_subject), user(by), data or OPEN, runtime=runtime)
    commit()
    return case


def run(case: Case, steps, runtime) -> None:
    for trigger, extra in steps:
        fire(case, trigger, actor_for(trigger), data_for(trigger, extra, case), runtime=runtime)
        commit()


def case_in(state: str, runtime) -> Case:
    case = new_case(runtime)
    run(case, PATHS[state], runtime)
    assert case.state == state
    return case


@pytest.fixture
def at_start(clock):
    clock.set(START)
    return clock


# --- the table itself -------------------------------------------------------------------------

def test_every_state_is_reachable_from_applied():
    reachable, frontier = {str(CT.initial)}, [str(CT.initial)]
    while frontier:
        for step in CT.steps_from(frontier.pop()):
            if step.target not in reachable:
                reachable.add(step.target)
                frontier.append(step.target)
    assert reachable == set(ALL_STATES)


def test_terminal_state_has_no_exits_and_every_end_state_is_filed():
    assert CT.terminal == ("archived",)
    assert CT.steps_from("archived") == []
    ends = {"refused_closed", "withdrawn", "failed_terminated", "not_confirmed", "performed", "not_performed"}
    for state in ends:
        assert [s.trigger for s in CT.steps_from(state)] == ["archive"]


def test_definition_key_prefix_version_and_opening_permission():
    assert (CT.key, CT.reference_prefix, CT.version) == ("mediation", "TJ", 1)
    assert str(CT.create_permission) == "case:mediate"
    # Mediation is free of charge: no step asks for a fee.
    assert not any("fee" in (s.schema().fields if s.schema else {}) for s in CT.steps)


@pytest.mark.parametrize("state", sorted(PATHS))
def test_every_path_reaches_its_state(ctx, demo, runtime, at_start, state):
    case = case_in(state, runtime)
    assert db.session.get(Case, case.id).state == state


# --- every (state, trigger) pair --------------------------------------------------------------

@pytest.mark.parametrize("state,trigger", sorted(ALLOWED))
def test_allowed_pair_reaches_its_target(ctx, demo, runtime, at_start, state, trigger):
    case = case_in(state, runtime)
    run(case, PREP.get(trigger, []), runtime)
    step = ALLOWED[(state, trigger)]
    event = fire(case, trigger, actor_for(trigger), data_for(trigger, case=case), runtime=runtime)
    commit()
    assert (event.from_state, event.to_state) == (state, step.target)
    assert case.state == step.target


@pytest.mark.parametrize("state", ALL_STATES)
def test_every_other_pair_is_refused_409_with_reasons(ctx, demo, runtime, at_start, state):
    case = case_in(state, runtime)
    version = case.version
    refused = [t for t in ALL_TRIGGERS if (state, t) not in ALLOWED]
    assert refused
    for trigger in refused:
        with pytest.raises(TransitionNotAllowed) as info:
            fire(case, trigger, actor_for(trigger), data_for(trigger), runtime=runtime)
        db.session.rollback()
        assert info.value.http_status == 409, trigger
        assert info.value.details["reasons"] and info.value.details["state"] == state, trigger
    fresh = db.session.get(Case, case.id)
    assert (fresh.state, fresh.version) == (state, version)


def test_unknown_trigger_is_404(ctx, demo, runtime, at_start):
    case = new_case(runtime)
    with pytest.raises(UnknownTrigger):
        fire(case, "mediate_everything", user("mediator"), {}, runtime=runtime)


def test_a_session_on_a_closed_case_is_409(ctx, demo, runtime, at_start):
    case = case_in("failed_terminated", runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "log_session", user("mediator"), data_for("log_session"), runtime=runtime)
    assert info.value.http_status == 409
    assert "调解不成" in info.value.details["reasons"][0]


# --- actors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("trigger,state,who,error", [
    ("register", "applied", "window", Forbidden),          # the window is not a mediator
    ("record_consent", "applied", "auditor", Forbidden),   # sees everything, does nothing
    ("consent", "applied", "mediator", Forbidden),         # a party's own step
    ("withdraw", "mediating", "mediator", Forbidden),
    ("log_session", "mediating", "reviewer", NotFound),    # another department cannot even see it
    ("log_session", "mediating", "trainer", NotFound),
])
def test_wrong_actor_is_refused(ctx, demo, runtime, at_start, trigger, state, who, error):
    case = case_in(state, runtime)
    with pytest.raises(error):
        fire(case, trigger, user(who), data_for(trigger, case=case), runtime=runtime)


def test_the_applying_party_cannot_answer_for_the_respondent(ctx, demo, runtime, at_start):
    case = new_case(runtime)
    for trigger in ("consent", "refuse"):
        with pytest.raises(TransitionNotAllowed) as info:
            fire(case, trigger, user("enterprise"), data_for(trigger), runtime=runtime)
        db.session.rollback()
        assert "只有被申请人一方" in info.value.details["reasons"][0]


def test_the_respondent_consents_itself_then_a_mediator_registers(ctx, demo, runtime, at_start):
    case = new_case(runtime)
    fire(case, "consent", user("person"), {"agree": True}, runtime=runtime)
    commit()
    assert db.session.get(MediationCase, case.id).consent_on == date(2026, 2, 12)
    run(case, [("register", {})], runtime)
    assert case.state == "registered"


def test_the_respondent_refuses_and_the_case_closes(ctx, demo, runtime, at_start):
    case = new_case(runtime)
    fire(case, "refuse", user("person"), {"reason": "本人不同意调解"}, runtime=runtime)
    commit()
    row = db.session.get(MediationCase, case.id)
    assert case.state == "refused_closed" and row.ended_by_party == "respondent"


def test_only_assigned_mediators_act_once_assigned(ctx, demo, runtime, at_start):
    case = case_in("mediating", runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "log_session", user("mediator2"), data_for("log_session"), runtime=runtime)
    db.session.rollback()
    assert info.value.details["reasons"] == ["仅本案调解员（mediator）可以办理 / only this case's mediators "
                                             "(mediator) may act"]
    blocked = {a.trigger: a for a in available_actions(case, user("mediator2"), runtime=runtime)}
    assert not blocked["log_session"].enabled and blocked["log_session"].reasons
    fire(case, "log_session", user("mediator"), data_for("log_session"), runtime=runtime)
    commit()
    assert len(db.session.get(MediationCase, case.id).sessions) == 1


def test_two_mediators_chosen_by_the_parties_both_act_and_both_sign(ctx, demo, runtime, at_start):
    case = case_in("mediator_assigned", runtime)
    # Re-assigning is not a step; assign on a fresh case instead.
    case = new_case(runtime)
    run(case, BASE[:2], runtime)
    fire(case, "assign_mediators", user("mediator"), {"mediators": ["mediator, mediator2"],
                                                      "chosen_by": "parties"},
         runtime=runtime)
    commit()
    row = db.session.get(MediationCase, case.id)
    assert [m.user.username for m in row.mediators] == ["mediator", "mediator2"]
    assert row.mediators_chosen_by == "parties"
    fire(case, "inform_rights", user("mediator2"), {"how": "oral"}, runtime=runtime)
    run(case, [("log_session", {}), ("record_agreement", {})], runtime)
    run(case, [("sign", s) for s in SIGNATURES], runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "take_effect", user("mediator"), {}, runtime=runtime)
    db.session.rollback()
    assert "调解员 mediator2" in info.value.details["reasons"][0]
    fire(case, "sign", user("mediator2"), {"signer": "mediator"}, runtime=runtime)
    fire(case, "take_effect", user("mediator2"), {}, runtime=runtime)
    commit()
    assert case.state == "agreement_effective"


# --- guards: each passes and blocks with its reason -------------------------------------------

def test_registration_needs_the_respondents_consent(ctx, demo, runtime, at_start):
    case = new_case(runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "register", user("mediator"), {}, runtime=runtime)
    db.session.rollback()
    assert info.value.details["reasons"] == ["被申请人尚未同意调解 / the respondent has not consented to mediation yet"]
    run(case, [("record_consent", {})], runtime)
    with pytest.raises(TransitionNotAllowed) as again:
        fire(case, "record_consent", user("mediator"), INPUT["record_consent"], runtime=runtime)
    db.session.rollback()
    assert "已同意" in again.value.details["reasons"][0]


def test_an_agreement_needs_a_logged_session(ctx, demo, runtime, at_start):
    case = case_in("mediating", runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "record_agreement", user("mediator"), data_for("record_agreement"), runtime=runtime)
    db.session.rollback()
    assert "尚无调解记录" in info.value.details["reasons"][0]


def test_take_effect_lists_every_missing_signature(ctx, demo, runtime, at_start):
    case = case_in("agreement_signed", runtime)
    run(case, [("sign", {"signer": "respondent"})], runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "take_effect", user("mediator"), {}, runtime=runtime)
    db.session.rollback()
    reason = info.value.details["reasons"][0]
    assert "申请人（威海文登示范建材有限公司）" in reason and "调解员 mediator" in reason and "调解委员会印章" in reason
    assert "被申请人（张某）" not in reason
    with pytest.raises(TransitionNotAllowed) as twice:
        fire(case, "sign", user("mediator"), {"signer": "respondent"}, runtime=runtime)
    db.session.rollback()
    assert "被申请人已签署" in twice.value.details["reasons"][0]
    run(case, [("sign", s) for s in SIGNATURES if s["signer"] != "respondent"], runtime)
    run(case, [("take_effect", {})], runtime)
    assert db.session.get(MediationCase, case.id).effective_on == date(2026, 2, 12)


def test_only_an_assigned_mediator_signs_as_mediator(ctx, demo, runtime, at_start):
    case = case_in("agreement_signed", runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "sign", user("mediator2"), {"signer": "mediator"}, runtime=runtime)
    assert info.value.details["reasons"]


def test_one_extension_of_at_most_the_configured_days(ctx, demo, runtime, at_start):
    case = case_in("mediating", runtime)
    with pytest.raises(InvalidInput) as too_long:
        fire(case, "extend", user("mediator"), {"days": 31, "both_parties_consent": True}, runtime=runtime)
    db.session.rollback()
    assert too_long.value.http_status == 422 and "days" in too_long.value.details["fields"]
    with pytest.raises(InvalidInput):
        fire(case, "extend", user("mediator"), {"days": 10, "both_parties_consent": False}, runtime=runtime)
    db.session.rollback()
    run(case, [("extend", {"days": 20})], runtime)
    by_kind = {d.kind: d for d in case.deadlines}
    assert by_kind["conclusion"].due_on == date(2026, 3, 12) and by_kind["conclusion"].status == "cancelled"
    assert by_kind["conclusion_extension"].due_on == date(2026, 4, 1)  # 20 CD after 03-12
    with pytest.raises(TransitionNotAllowed) as again:
        fire(case, "extend", user("mediator"), {"days": 5, "both_parties_consent": True}, runtime=runtime)
    assert "已延长过一次" in again.value.details["reasons"][0]


def test_the_confirmation_window_closes(ctx, demo, runtime, at_start, clock):
    case = case_in("agreement_effective", runtime)
    window = next(d for d in case.deadlines if d.kind == "confirmation_window")
    assert window.due_on == date(2026, 3, 16)  # 02-12 + 30 CD = 03-14 (Sat) → Mon 03-16 (C3)
    clock.set(datetime(2026, 3, 17, 9, tzinfo=BEIJING))
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "apply_confirmation", user("mediator"), data_for("apply_confirmation"), runtime=runtime)
    db.session.rollback()
    assert "2026-03-16" in info.value.details["reasons"][0]
    fire(case, "close_confirmation_window", SYSTEM, {}, runtime=runtime)
    commit()
    assert window.status == "expired" and case.state == "agreement_effective"
    run(case, [("start_performance", {})], runtime)  # performance goes on without confirmation


def test_court_acceptance_is_recorded_once_and_rebases_the_decision(ctx, demo, runtime, at_start):
    case = case_in("confirmation_applied", runtime)
    by_kind = {d.kind: d for d in case.deadlines if d.status == "open"}
    assert by_kind["court_acceptance"].due_on == date(2026, 2, 24)  # 02-15 (Sun, 春节) → 02-24
    assert by_kind["court_decision"].start_on == date(2026, 2, 24)
    run(case, [("record_court_acceptance", {})], runtime)
    assert by_kind["court_acceptance"].status == "met"
    assert by_kind["court_decision"].start_on == date(2026, 2, 12)
    assert by_kind["court_decision"].due_on == date(2026, 3, 16)  # 02-12 + 30 = 03-14 (Sat) → 03-16
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "record_court_acceptance", user("mediator"), {"accepted_on": "2026-02-12"},
             runtime=runtime)
    assert "已记录法院受理" in info.value.details["reasons"][0]


def test_performance_guards_name_the_obligations(ctx, demo, runtime, at_start):
    case = case_in("performing", runtime)
    for trigger, words in (("finish_performed", "尚有义务未确认履行"), ("finish_not_performed", "尚有义务未回访确认")):
        with pytest.raises(TransitionNotAllowed) as info:
            fire(case, trigger, user("mediator"), {}, runtime=runtime)
        db.session.rollback()
        assert words in info.value.details["reasons"][0] and "支付建材货款" in info.value.details["reasons"][0]
    run(case, [("mark_obligation", {})], runtime)
    with pytest.raises(TransitionNotAllowed) as info:
        fire(case, "finish_not_performed", user("mediator"), {}, runtime=runtime)
    assert "各项义务均已履行" in info.value.details["reasons"][0]


# --- bad input: 422 ---------------------------------------------------------------------------

@pytest.mark.parametrize("obligations,words", [
    ([{"obligor": "respondent", "description": "支付货款", "amount": "-1", "due_on": "2026-03-31"}], "负数"),
    ([{"obligor": "respondent", "description": "支付货款", "amount": "100"}], "缺少履行期限"),
    ("被申请人|支付货款|100|", "缺少履行期限"),
    ("被申请人|支付货款|-5|2026-03-31", "负数"),
    ([{"obligor": "someone", "description": "支付货款", "due_on": "2026-03-31"}], "义务人"),
    ([], "至少须有一项"),
])
def test_an_invalid_obligation_is_422(ctx, demo, runtime, at_start, obligations, words):
    case = case_in("mediating", runtime)
    run(case, [("log_session", {})], runtime)
    with pytest.raises(InvalidInput) as info:
        fire(case, "record_agreement", user("mediator"), {**INPUT["record_agreement"],
                                                          "obligations": obligations},
             runtime=runtime)
    assert info.value.http_status == 422
    assert words in " ".join(str(m) for m in info.value.details["fields"]["obligations"])


def test_obligations_typed_as_lines_become_rows(ctx, demo, runtime, at_start):
    case = case_in("mediating", runtime)
    run(case, [("log_session", {})], runtime)
    lines = "被申请人|支付货款|30,000|2026-03-31\n申请人｜出具收据||2026-04-01\n"
    fire(case, "record_agreement", user("mediator"), {**INPUT["record_agreement"], "obligations": lines},
         runtime=runtime)
    commit()
    rows = db.session.get(MediationCase, case.id).obligations
    assert [(o.seq, o.obligor, o.description, o.amount, o.due_on) for o in rows] == [
        (1, "respondent", "支付货款", 30000, date(2026, 3, 31)), (2, "applicant", "出具收据", None, date(2026, 4, 1))]
    assert case.events[-1].payload["obligations"][0] == {"obligor": "respondent", "description": "支付货款",
                                                         "amount": "30000.00", "due_on": "2026-03-31"}


@pytest.mark.parametrize("data,field", [
    ({**OPEN, "respondent_subject_id": 1}, "respondent_subject_id"),
    ({**OPEN, "respondent_subject_id": 999}, "respondent_subject_id"),
    ({**OPEN, "channel": "referral"}, "referral_source"),
    ({**OPEN, "referral_source": "court"}, "referral_source"),
    ({"respondent_subject_id": 3}, "dispute"),
])
def test_bad_opening_is_422(ctx, demo, runtime, at_start, data, field):
    with pytest.raises(InvalidInput) as info:
        open_mediation(subject(1), user("mediator"), data, runtime=runtime)
    assert field in info.value.details["fields"]


def test_unknown_mediator_and_one_sided_confirmation_are_422(ctx, demo, runtime, at_start):
    case = case_in("registered", runtime)
    with pytest.raises(InvalidInput) as info:
        fire(case, "assign_mediators", user("mediator"), {"mediators": ["window"], "chosen_by": "committee"},
             runtime=runtime)
    db.session.rollback()
    assert "不是在职的调解员" in info.value.details["fields"]["mediators"][0]
    case = case_in("agreement_effective", runtime)
    with pytest.raises(InvalidInput) as one_sided:
        fire(case, "apply_confirmation", user("mediator"), {"court": "文登区人民法院", "parties": ["applicant"]},
             runtime=runtime)
    assert "共同申请" in one_sided.value.details["fields"]["parties"][0]


def test_marking_an_unknown_obligation_is_422(ctx, demo, runtime, at_start):
    case = case_in("performing", runtime)
    with pytest.raises(InvalidInput):
        fire(case, "mark_obligation", user("mediator"), {"obligation": 7, "result": "performed"},
             runtime=runtime)


# --- opening: a party, a referral, the committee -----------------------------------------------

def test_a_mediator_registers_a_referral_as_itself(ctx, demo, runtime, at_start):
    case = new_case(runtime, {**OPEN, "channel": "referral", "referral_source": "court"})
    row = db.session.get(MediationCase, case.id)
    assert case.reference.startswith("TJ-2026-") and case.state == "applied"
    assert (row.channel, row.referral_source, row.opened_by.username) == ("referral", "court", "mediator")
    assert case.events[0].actor_name == user("mediator").name and case.applicant is None
    assert {(p.subject_id, p.role) for p in row.parties} == {(1, "applicant"), (3, "respondent")}
    assert case.department.code == "credit-center"


def test_a_party_applies_online_for_its_own_subject(ctx, demo, runtime, at_start):
    case = open_mediation(subject(1), user("enterprise"), OPEN, runtime=runtime)
    commit()
    row = db.session.get(MediationCase, case.id)
    assert case.applicant.username == "enterprise" and row.opened_by.username == "enterprise"
    assert (case.events[0].actor_role, case.events[0].actor_id) == ("applicant", user("enterprise").id)
    with pytest.raises(Forbidden):
        open_mediation(subject(3), user("enterprise"), {**OPEN, "respondent_subject_id": 1}, runtime=runtime)
    with pytest.raises(InvalidInput):
        open_mediation(subject(1), user("enterprise"), {**OPEN, "channel": "referral",
                                                        "referral_source": "police"},
                       runtime=runtime)
    # The engine's own door checks the same: a party opens for its own subject only.
    assert open_case("mediation", subject(1), user("enterprise"), OPEN, runtime=runtime).applicant == user("enterprise")
    with pytest.raises(Forbidden):
        open_case("mediation", subject(3), user("enterprise"), {**OPEN, "respondent_subject_id": 1}, runtime=runtime)


def test_the_credit_center_records_its_own_referral_and_others_may_not_open(ctx, demo, runtime, at_start):
    case = open_mediation(subject(1), user("window"), {**OPEN, "channel": "referral",
                                                       "referral_source": "credit_center"}, runtime=runtime)
    commit()
    assert db.session.get(MediationCase, case.id).opened_by.username == "window"
    with pytest.raises(InvalidInput):
        open_mediation(subject(1), user("window"), OPEN, runtime=runtime)
    for who in ("reviewer", "trainer", "auditor"):
        with pytest.raises(Forbidden):
            open_mediation(subject(1), user(who), OPEN, runtime=runtime)


def test_both_parties_users_see_the_case_and_others_do_not(ctx, demo, runtime, at_start):
    case = new_case(runtime)
    stranger = User(username="stranger", role="applicant", password_hash="x", created_at=START)
    db.session.add(stranger)
    commit()
    for who, sees in (("enterprise", True), ("person", True), ("mediator", True), ("mediator2", True),
                      ("stranger", False), ("reviewer", False), ("trainer", False)):
        viewer = user(who)
        assert can_view_case(viewer, case) is sees, who
        listed = db.session.execute(visible_cases(viewer).where(Case.id == case.id)).scalar()
        assert (listed is not None) is sees, who


def test_natural_person_identifier_is_masked_in_the_details(ctx, demo, runtime, at_start):
    case = new_case(runtime)
    respondent = CT.describe(case, runtime)["parties"][1]
    assert respondent["name"] == "张某" and "*" in respondent["identifier"]
    assert respondent["identifier"] != subject(3).id_number


# --- timers -----------------------------------------------------------------------------------

def test_registration_starts_the_one_month_target(ctx, demo, runtime, at_start):
    case = case_in("registered", runtime)
    conclusion = next(d for d in case.deadlines if d.kind == "conclusion")
    assert (conclusion.unit, conclusion.budget, conclusion.due_on) == ("month", 1, date(2026, 3, 12))
    assert conclusion.expiry_trigger == "conclusion_due"


def test_on_expiry_the_mediators_are_asked_not_terminated(ctx, demo, runtime, at_start, clock):
    from workflows.sweep import sweep

    case = case_in("mediating", runtime)
    clock.set(datetime(2026, 3, 13, 9, tzinfo=BEIJING))
    result = sweep(db.session, runtime, commit=commit)
    assert result.fired == 1 and case.state == "mediating"
    assert case.events[-1].trigger == "conclusion_due"
    told = db.session.execute(db.select(OutboxMessage).where(
        OutboxMessage.case_id == case.id, OutboxMessage.event == "mediation-conclusion-due")).scalars().all()
    assert {m.recipient_user_id for m in told} == {user("mediator").id}
    run(case, [("extend", {"days": 30})], runtime)
    by_kind = {d.kind: d for d in case.deadlines}
    assert by_kind["conclusion"].status == "expired"
    assert by_kind["conclusion_extension"].due_on == date(2026, 4, 11)  # 03-12 + 30 CD (Sat; no roll-over)


def test_revisits_follow_each_due_date_and_close_when_checked(ctx, demo, runtime, at_start):
    case = case_in("mediating", runtime)
    obligations = OBLIGATIONS + [{"obligor": "applicant", "description": "出具收据", "due_on": "2026-04-03"}]
    run(case, [("log_session", {}), ("record_agreement", {"obligations": obligations})], runtime)
    run(case, [("sign", s) for s in SIGNATURES] + [("take_effect", {}), ("start_performance", {})], runtime)
    revisits = [d for d in case.deadlines if d.kind == "revisit"]
    # 03-31 (Tue) + 5 WD = 04-08 (清明 04-04..06); 04-03 (Fri) + 5 WD = 04-13.
    assert [d.due_on for d in revisits] == [date(2026, 4, 8), date(2026, 4, 13)]
    run(case, [("mark_obligation", {"obligation": 2})], runtime)
    assert [d.status for d in revisits] == ["open", "met"]
    run(case, [("mark_obligation", {"obligation": 1, "result": "not_performed"}),
               ("finish_not_performed", {})], runtime)
    assert [d.status for d in revisits] == ["met", "met"]
    # The applicant performed its part: only the respondent performed nothing at all.
    records = db.session.execute(
        db.select(CreditRecord).where(CreditRecord.direct_grade == "B")).scalars().all()
    assert [r.subject_id for r in records] == [3]


# --- the credit effect (§7.6) -----------------------------------------------------------------

def test_an_agreement_not_performed_at_all_grades_the_defaulting_party_b(ctx, demo, runtime, at_start):
    company = subject(1)
    assert score_at(company.records, date(2026, 2, 12)).grade == "A"
    case = case_in("mediating", runtime)
    obligations = [{"obligor": "applicant", "description": "退还保证金", "amount": "10000",
                    "due_on": "2026-03-01"}]
    run(case, [("log_session", {}), ("record_agreement", {"obligations": obligations})], runtime)
    run(case, [("sign", s) for s in SIGNATURES] + [("take_effect", {}), ("start_performance", {})], runtime)
    run(case, [("mark_obligation", {"result": "not_performed"}), ("finish_not_performed", {})], runtime)
    row = db.session.get(MediationCase, case.id)
    record = db.session.get(CreditRecord, row.credit_record_id)
    assert (record.subject_id, record.kind, record.severity) == (1, "dishonesty", "general")
    assert record.direct_grade == "B"
    assert record.valid_until == date(2027, 2, 12)
    db.session.refresh(company)
    assert score_at(company.records, date(2026, 2, 12)).grade == "B"
    after = score_at(company.records, date(2027, 2, 13))  # the validity (rules: 1 year) has run out
    assert after.direct_grade is None and record.id not in [i["record_id"] for i in after.items]
    assert case.events[-1].payload["credit_records"] == [{"subject_id": 1, "record_id": record.id,
                                                          "party": "applicant"}]


def test_archiving_keeps_the_whole_file(ctx, demo, runtime, at_start):
    case = case_in("archived", runtime)
    details = CT.describe(case, runtime)
    assert details["registered_on"] == "2026-02-12" and details["archived_on"] == "2026-02-12"
    assert len(details["sessions"]) == 1 and details["sessions"][0]["proposals"]
    assert [s["signer"] for s in details["signatures"]] == ["applicant", "respondent", "mediator", "seal"]
    assert details["obligations"][0]["status"] == "performed" and details["agreement"]["terms"]
    assert case.closed_at is not None
    assert case.events[-1].payload["file"] == {"sessions": 1, "obligations": 1, "signatures": 4,
                                               "ended_in": "performed"}


def test_the_draft_agreement_comes_from_the_last_session(ctx, demo, runtime, at_start):
    case = case_in("mediating", runtime)
    run(case, [("log_session", {"proposals": "第一次方案", "proposed_obligations": []}),
               ("log_session", {"proposals": "第二次方案"})], runtime)
    draft = CT.describe(case, runtime)["draft"]
    assert draft["terms"] == "第二次方案" and draft["from_session"] == 2
    assert draft["obligations"] == "被申请人|支付建材货款|50000.00|2026-03-31"
