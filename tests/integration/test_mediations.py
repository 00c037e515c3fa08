"""Mediation through the JSON API and the pages as the real roles (DOMAIN.md §7, §10 S12).

S12: registered 2026-02-12 → conclusion target 2026-03-12; agreement effective 2026-03-05 → the
30 CD confirmation window ends Sat 04-04 (清明) → Tue 2026-04-07; joint application 04-07 → court
acceptance by 04-10, decision by 2026-05-11 (CPL: 30 days) or 2026-04-27 (SPC2011: 15 days,
configured). An agreement not performed at all grades the defaulting party B.
"""
from __future__ import annotations

from datetime import datetime

import pytest

from models import CaseEvent, OutboxMessage, Subject, db
from models.subject import mask_id_number
from page_client import csrf_token_from
from workflows.clock import BEIJING
from workflows.rules import Rules

OPEN = {"subject_id": 1, "data": {"respondent_subject_id": 3, "dispute": "建材货款纠纷，张某拖欠货款五万元",
                                   "channel": "referral", "referral_source": "credit_center"}}
SESSION = {"participants": "调解员；李某（申请人代理人）；张某", "applicant_said": "要求一次性付清",
           "respondent_said": "同意于4月底前付清", "proposals": "被申请人于2026-04-30前支付货款五万元",
           "proposed_obligations": "被申请人|支付建材货款|50000|2026-04-30"}
AGREEMENT = {"facts": "被申请人拖欠建材货款五万元", "terms": "被申请人于2026年4月30日前支付货款五万元",
             "obligations": [{"obligor": "respondent", "description": "支付建材货款", "amount": 50000,
                              "due_on": "2026-04-30"}]}
SIGNATURES = [{"signer": "applicant", "signer_name": "李某"}, {"signer": "respondent", "signer_name": "张某"},
              {"signer": "mediator"}, {"signer": "seal"}]


def at(y, m, d, h=9):
    return datetime(y, m, d, h, tzinfo=BEIJING)


def act(client, case_id, trigger, **data):
    return client.post(f"/api/v1/cases/{case_id}/actions/{trigger}", json={"data": data})


def acted(client, case_id, trigger, **data) -> dict:
    response = act(client, case_id, trigger, **data)
    assert response.status_code == 200, (trigger, response.get_json())
    return response.get_json()


def due(case: dict, kind: str) -> str:
    return next(d["due"] for d in case["deadlines"] if d["kind"] == kind)


def registered(api, clock) -> tuple[int, object]:
    clock.set(at(2026, 2, 12))
    mediator = api.as_user("mediator")
    created = mediator.post("/api/v1/mediation/cases", json=OPEN)
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["id"]
    assert created.get_json()["reference"].startswith("TJ-2026-")
    acted(mediator, case_id, "record_consent", how="电话确认并签署同意书")
    case = acted(mediator, case_id, "register")
    assert due(case, "conclusion") == "2026-03-12"
    return case_id, mediator


def effective(api, clock) -> tuple[int, object]:
    case_id, mediator = registered(api, clock)
    acted(mediator, case_id, "assign_mediators", chosen_by="committee")
    acted(mediator, case_id, "inform_rights", how="written")
    clock.set(at(2026, 2, 26))
    acted(mediator, case_id, "log_session", **SESSION)
    acted(mediator, case_id, "record_agreement", **AGREEMENT)
    clock.set(at(2026, 3, 5))
    for signature in SIGNATURES:
        acted(mediator, case_id, "sign", **signature)
    case = acted(mediator, case_id, "take_effect")
    assert case["state"] == "agreement_effective"
    assert due(case, "confirmation_window") == "2026-04-07"
    return case_id, mediator


@pytest.mark.parametrize("decision_days,decision_due", [(30, "2026-05-11"), (15, "2026-04-27")])
def test_s12_registration_to_judicial_confirmation(app, demo, api, clock, runtime, decision_days,
                                                   decision_due):
    if decision_days != 30:
        runtime.rules = Rules({"mediation.court_decision_days": decision_days})
    case_id, mediator = effective(api, clock)
    clock.set(at(2026, 4, 7))
    case = acted(mediator, case_id, "apply_confirmation", court="威海市文登区人民法院",
                 parties=["applicant", "respondent"])
    assert case["state"] == "confirmation_applied"
    assert due(case, "court_acceptance") == "2026-04-10"
    assert due(case, "court_decision") == decision_due
    window = next(d for d in case["deadlines"] if d["kind"] == "confirmation_window")
    assert window["status"] == "met"
    clock.set(at(2026, 4, 20))
    case = acted(mediator, case_id, "record_confirmed", ruling_no="（2026）鲁1003民特12号")
    assert case["state"] == "confirmed"
    assert {d["kind"]: d["status"] for d in case["deadlines"]}["court_decision"] == "met"


def test_s12_window_rolls_over_the_qingming_rest_days(app, demo, api, clock):
    case_id, mediator = effective(api, clock)
    clock.set(at(2026, 4, 8))
    late = act(mediator, case_id, "apply_confirmation", court="威海市文登区人民法院",
               parties=["applicant", "respondent"])
    assert late.status_code == 409
    assert "2026-04-07" in late.get_json()["details"]["reasons"][0]


def test_not_performed_grades_the_defaulting_party_b_through_the_score_endpoint(app, demo, api, clock):
    case_id, mediator = effective(api, clock)
    person, window = api.as_user("person"), api.as_user("window")
    before = person.get("/api/v1/subjects/3/score").get_json()
    assert before["grade"] == "A" and before["direct_grade"] is None
    clock.set(at(2026, 3, 6))
    case = acted(mediator, case_id, "start_performance")
    assert due(case,
               "revisit") == "2026-05-11"  # 04-30 + 5 WD: 劳动节 05-01..05 skipped, Sat 05-09 make-up counted
    clock.set(at(2026, 5, 14))
    acted(mediator, case_id, "mark_obligation", obligation=1, result="not_performed", note="经督促仍未付款")
    case = acted(mediator, case_id, "finish_not_performed")
    assert case["state"] == "not_performed"
    after = window.get("/api/v1/subjects/3/score?purpose=调解履行核查").get_json()  # 政务共享 of a person: purpose
    assert after["grade"] == "B" and after["direct_grade"] == "B"
    own = person.get("/api/v1/subjects/3/score").get_json()
    assert own["grade"] == "B"
    assert api.as_user("enterprise").get("/api/v1/subjects/1/score").get_json()["grade"] != "B"
    case = acted(mediator, case_id, "archive")
    assert case["state"] == "archived" and case["terminal"]


def test_the_respondents_user_sees_the_case_and_consents_itself(app, demo, api, clock):
    clock.set(at(2026, 2, 12))
    enterprise, person = api.as_user("enterprise"), api.as_user("person")
    created = enterprise.post("/api/v1/mediation/cases", json={
        "subject_id": 1, "data": {"respondent_subject_id": 3, "dispute": "货款纠纷，请求调解"}})
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["id"]
    assert person.get(f"/api/v1/cases/{case_id}").status_code == 200
    listed = person.get("/api/v1/cases?case_type=mediation").get_json()["cases"]
    assert [c["id"] for c in listed] == [case_id]
    actions = [a["trigger"] for a in person.get(f"/api/v1/cases/{case_id}").get_json()["available_actions"]]
    assert set(actions) == {"consent", "refuse"}
    refused = act(enterprise, case_id, "consent", agree=True)
    assert refused.status_code == 409 and "只有被申请人" in refused.get_json()["details"]["reasons"][0]
    assert acted(person, case_id, "consent", agree=True)["details"]["consent_on"] == "2026-02-12"
    # The generic door checks the same: a party applies, it does not record referrals.
    generic = enterprise.post("/api/v1/cases", json={"case_type": "mediation", **OPEN})
    assert generic.status_code == 422 and "channel" in generic.get_json()["details"]["fields"]
    assert api.as_user("reviewer").get(f"/api/v1/cases/{case_id}").status_code == 404


def test_bad_input_409_and_422(app, demo, api, clock):
    case_id, mediator = registered(api, clock)
    acted(mediator, case_id, "assign_mediators", chosen_by="parties")
    acted(mediator, case_id, "inform_rights", how="oral")
    acted(mediator, case_id, "log_session", **SESSION)
    bad = act(mediator, case_id, "record_agreement", **{**AGREEMENT, "obligations": [
        {"obligor": "respondent", "description": "支付", "amount": -100, "due_on": "2026-04-30"},
        {"obligor": "respondent", "description": "支付", "amount": 100}]})
    assert bad.status_code == 422
    messages = " ".join(bad.get_json()["details"]["fields"]["obligations"])
    assert "第1项：金额不能为负数" in messages and "第2项：缺少履行期限" in messages
    acted(mediator, case_id, "record_agreement", **AGREEMENT)
    acted(mediator, case_id, "sign", signer="applicant")
    early = act(mediator, case_id, "take_effect")
    assert early.status_code == 409
    reason = early.get_json()["details"]["reasons"][0]
    assert "被申请人（张某）" in reason and "调解员 mediator" in reason and "调解委员会印章" in reason
    assert "申请人（威海文登示范建材有限公司）" not in reason
    other = api.as_user("mediator2")
    assert act(other, case_id, "sign", signer="seal").status_code == 409  # not this case's mediator
    closed_id, _ = registered(api, clock)
    acted(mediator, closed_id, "record_withdrawal", party="respondent", reason="被申请人要求终止调解")
    late = act(mediator, closed_id, "log_session", **SESSION)
    assert late.status_code == 409 and late.get_json()["details"]["reasons"]


def test_conclusion_expiry_asks_the_mediator(app, demo, api, clock):
    case_id, mediator = registered(api, clock)
    acted(mediator, case_id, "assign_mediators", chosen_by="committee")
    acted(mediator, case_id, "inform_rights", how="written")
    clock.set(at(2026, 3, 13))
    admin = api.as_user("admin")
    with app.app_context():
        from workflows.sweep import sweep
        from webapp.views.common import commit

        result = sweep(db.session, app.extensions["creditdesk"], commit=commit)
        assert result.fired == 1
        assert db.session.execute(db.select(CaseEvent.trigger).where(CaseEvent.case_id == case_id)
                                  .order_by(CaseEvent.seq.desc())).scalars().first() == "conclusion_due"
        asked = db.session.execute(db.select(OutboxMessage).where(
            OutboxMessage.case_id == case_id, OutboxMessage.event == "mediation-conclusion-due")
        ).scalars().all()
        assert asked
    case = admin.get(f"/api/v1/cases/{case_id}").get_json()
    assert case["state"] == "mediating"
    case = acted(mediator, case_id, "extend", days=30, both_parties_consent=True)
    assert due(case, "conclusion_extension") == "2026-04-11"


def test_search_subjects_for_mediators_only(app, demo, api, clock):
    mediator = api.as_user("mediator")
    found = mediator.get("/api/v1/mediation/subjects?q=示范").get_json()["subjects"]
    assert {s["id"] for s in found} == {1, 2}
    person = mediator.get("/api/v1/mediation/subjects?q=3").get_json()["subjects"]
    assert person[0]["name"] == "张某" and "*" in person[0]["id_number"]
    assert api.as_user("enterprise").get("/api/v1/mediation/subjects?q=示范").status_code == 403


# --- pages ------------------------------------------------------------------------------------

def test_console_register_draft_print_and_dossier_pages(app, demo, browser, api, clock):
    clock.set(at(2026, 2, 12))
    browser.login("mediator")
    with app.app_context():
        full_id = db.session.get(Subject, 3).id_number
    home = browser.get("/mediation").get_data(as_text=True)
    assert 'data-testid="nav-mediation.console"' in home and "调解工作台" in home
    page = browser.post_form("/mediation/new", "/mediation/new", {
        "applicant": "示范", "respondent": "张某", "channel": "application", "application_form": "oral",
        "dispute": "货款纠纷"})
    assert page.status_code == 422 and "有多个主体符合" in page.get_data(as_text=True)
    page = browser.post_form("/mediation/new", "/mediation/new", {
        "applicant": "91371081MA3DEM001" + api_uscc_check("91371081MA3DEM001"), "respondent": "张某",
        "channel": "application", "application_form": "oral", "dispute": "建材货款纠纷"})
    assert page.status_code == 302, page.get_data(as_text=True)
    case_url = page.headers["Location"]
    case_id = int(case_url.rstrip("/").split("/")[-1])
    console = browser.get("/mediation").get_data(as_text=True)
    assert f'data-case-id="{case_id}"' in console
    mediator = api.as_user("mediator")
    for trigger, data in (("record_consent", {"how": "书面"}), ("register", {}),
                          ("assign_mediators", {"chosen_by": "committee"}),
                          ("inform_rights", {"how": "oral"}),
                          ("log_session", SESSION)):
        acted(mediator, case_id, trigger, **data)
    show = browser.get(case_url).get_data(as_text=True)
    assert 'data-testid="mediation-details"' in show and 'data-testid="draft-agreement"' in show
    assert full_id not in show and mask_id_number(full_id) in show  # a natural person's number stays masked
    draft = browser.get(f"/mediation/cases/{case_id}/agreement").get_data(as_text=True)
    assert "被申请人|支付建材货款|50000.00|2026-04-30" in draft and "被申请人于2026-04-30前支付货款五万元" in draft
    token = csrf_token_from(draft)
    bad = browser.client.post(f"/mediation/cases/{case_id}/agreement", data={
        "csrf_token": token, "facts": "事实", "terms": "条款", "obligations": "被申请人|支付|-1|2026-04-30"})
    assert bad.status_code == 422 and "金额不能为负数" in bad.get_data(as_text=True)
    done = browser.post_form(f"/mediation/cases/{case_id}/agreement",
                             f"/mediation/cases/{case_id}/agreement", {
        "facts": "被申请人拖欠货款", "terms": "被申请人于4月30日前付清", "obligations": SESSION["proposed_obligations"]})
    assert done.status_code == 302
    printed = browser.get(f"/mediation/cases/{case_id}/agreement/print").get_data(as_text=True)
    assert "人民调解协议书" in printed and "@media print" in printed and "支付建材货款" in printed
    assert "调解委员会印章：________" in printed
    dossier = browser.get(f"/mediation/cases/{case_id}/dossier").get_data(as_text=True)
    for part in ("dossier-registration", "dossier-sessions", "dossier-agreement", "受理登记日期", "2026-02-12",
                 "同意于4月底前付清"):
        assert part in dossier


def test_the_console_is_for_mediators_only(app, demo, browser):
    browser.login("enterprise")
    assert 'nav-mediation.console' not in browser.get("/portal").get_data(as_text=True)
    assert browser.get("/mediation").status_code == 403


def api_uscc_check(first17: str) -> str:
    from forms.fields import uscc_check_char

    return uscc_check_char(first17)


def test_the_browser_journey_through_the_generated_forms(app, demo, browser, clock):
    """The journey of tests/browser/test_mediation_journey.py through the same HTML forms with the test
    client (which runs where chromium is missing): every form posts what a browser would, blanks included."""
    clock.set(at(2026, 2, 12))
    browser.login("mediator")
    page = browser.post_form("/mediation/new", "/mediation/new", {
        "applicant": "示范建材", "respondent": "张某", "channel": "application", "referral_source": "",
        "application_form": "oral", "dispute": "建材货款纠纷", "claims": ""})
    assert page.status_code == 302, page.get_data(as_text=True)
    case_url = page.headers["Location"]

    def post(trigger, **fields):
        response = browser.post_form(case_url, f"{case_url}/actions/{trigger}", fields)
        assert response.status_code == 302, (trigger, response.get_data(as_text=True)[:3000])

    post("record_consent", how="电话确认", note="")
    post("register", note="")
    post("assign_mediators", mediators="", chosen_by="committee")
    post("inform_rights", how="written", note="")
    blank = {"held_on": "", "place": "", "applicant_said": "", "respondent_said": ""}
    post("log_session", participants="调解员；李某；张某", proposals="分期付款", proposed_obligations="", **blank)
    post("log_session", participants="调解员；李某；张某", proposals="被申请人于3月31日前支付货款五万元",
         proposed_obligations="被申请人|支付建材货款|50000|2026-03-31", **blank)
    case_id = int(case_url.rstrip("/").split("/")[-1])
    draft = browser.get(f"/mediation/cases/{case_id}/agreement").get_data(as_text=True)
    assert "被申请人|支付建材货款|50000.00|2026-03-31" in draft
    done = browser.post_form(f"/mediation/cases/{case_id}/agreement",
                             f"/mediation/cases/{case_id}/agreement", {
        "facts": "被申请人拖欠货款", "terms": "被申请人于3月31日前支付货款五万元",
        "obligations": "被申请人|支付建材货款|50000.00|2026-03-31"})
    assert done.status_code == 302
    assert browser.get(case_url).get_data(as_text=True).count('data-testid="missing-signature"') == 4
    for signer in ("applicant", "respondent", "mediator", "seal"):
        post("sign", signer=signer, signer_name="")
    post("take_effect", note="")
    post("start_performance", note="")
    post("mark_obligation", obligation="1", result="performed", note="已付清")
    post("finish_performed", note="")
    show = browser.get(case_url).get_data(as_text=True)
    assert "协议已履行" in show and 'data-testid="obligation-1"' in show
