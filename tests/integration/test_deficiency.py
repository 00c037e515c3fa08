"""容缺受理 through the API, the CLI and the pages, as the real roles: enterprise (applicant), window
(credit center: the credit check), market (市场监管局: the food licence's department).

DOMAIN.md §10 S10 end to end with the simulated clock: Company C, clean, is accepted with two
non-core items missing on Monday 2026-02-09; supply deadline and licensing decision both Friday
2026-03-13 (20 WD across 春节); the decision is extended to 2026-03-27 (+10 WD); nothing arrives, so
the sweep leaves the case alone on Saturday 03-14 and marks it overdue on Monday 03-16; the
department terminates; the breach is recorded once; the next 容缺 application is refused at the
credit check until the subject repairs its credit.
"""
from __future__ import annotations

import io
import re
from datetime import datetime

import pytest
from page_client import Browser, csrf_token_from

from forms.fields import uscc_check_char
from models import Case, CreditRecord, OutboxMessage, Subject, User, db
from webapp.views.common import commit
from workflows.clock import BEIJING

PDF = b"%PDF-1.4\n% supplied item\n%%EOF\n"
FOOD = {"matter": "food-business-licence", "missing": ["business_licence", "legal_rep_id"], "core_complete": True}
VERSION_RE = re.compile(r'name="expected_version" value="(\d+)"')


@pytest.fixture
def s10(app, demo, clock):
    """Company C (no records), acting through the demo enterprise account, on 2026-02-09."""
    clock.set(datetime(2026, 2, 9, 9, tzinfo=BEIJING))
    with app.app_context():
        first17 = "91371081MA3DEMC03"
        subject = Subject(kind="legal_person", name="文登区示范餐饮有限公司", uscc=first17 + uscc_check_char(first17),
                          legal_representative="陈某", created_at=clock.now())
        db.session.add(subject)
        enterprise = db.session.execute(db.select(User).where(User.username == "enterprise")).scalar_one()
        enterprise.subjects.append(subject)
        commit()
        return subject.id


def action(client, case_id: int, trigger: str, data: dict | None = None):
    return client.post(f"/api/v1/cases/{case_id}/actions/{trigger}", json={"data": data or {}})


def dues(body: dict) -> dict:
    return {d["kind"]: d["due"] for d in body["deadlines"] if d["status"] in ("open", "suspended")}


def apply(client, subject_id: int, data: dict | None = None):
    return client.post("/api/v1/cases", json={"case_type": "deficiency_acceptance", "subject_id": subject_id,
                                              "data": data or FOOD})


def accepted_case(api, subject_id: int) -> int:
    enterprise, window, market = api.as_user("enterprise"), api.as_user("window"), api.as_user("market")
    opened = apply(enterprise, subject_id)
    assert opened.status_code == 201, opened.get_json()
    case_id = opened.get_json()["id"]
    assert action(window, case_id, "check_credit").status_code == 200
    assert action(enterprise, case_id, "sign", {"signer_name": "陈某", "commitment_accepted": True}).status_code == 200
    assert action(market, case_id, "accept").status_code == 200
    return case_id


def upload(client, case_id: int, key: str):
    return client.post(f"/api/v1/cases/{case_id}/attachments",
                       data={"material_key": key, "file": (io.BytesIO(PDF), f"{key}.pdf")},
                       content_type="multipart/form-data")


def test_s10_end_to_end_with_the_simulated_clock(api, app, s10):
    enterprise, window, market = api.as_user("enterprise"), api.as_user("window"), api.as_user("market")
    opened = apply(enterprise, s10)
    assert opened.status_code == 201
    body = opened.get_json()
    case_id = body["id"]
    assert body["reference"].startswith("RQ-2026-") and body["state"] == "applied"
    assert body["department"] == "文登区市场监督管理局" and body["deadlines"] == []

    checked = action(window, case_id, "check_credit").get_json()
    assert checked["state"] == "credit_checked" and checked["details"]["check_result"] == "clean"
    signed = action(enterprise, case_id, "sign", {"signer_name": "陈某", "commitment_accepted": True}).get_json()
    assert signed["state"] == "commitment_signed" and signed["details"]["commitment_reference"].startswith("CN-")
    accepted = action(market, case_id, "accept").get_json()
    assert accepted["state"] == "accepted_with_gaps"

    # The API reports both clocks on Friday 2026-03-13, and each item carries the supply deadline.
    shown = enterprise.get(f"/api/v1/cases/{case_id}").get_json()
    assert dues(shown) == {"supply": "2026-03-13", "decision": "2026-03-13"}
    assert [i["due_on"] for i in shown["details"]["items"]] == ["2026-03-13", "2026-03-13"]
    assert shown["details"]["supply_due_on"] == "2026-03-13"
    assert "2026-03-13" in shown["events"][-1]["reason"] and "营业执照复印件" in shown["events"][-1]["reason"]

    extended = action(market, case_id, "extend", {"reason": "需现场核查经营场所"}).get_json()
    assert dues(extended) == {"supply": "2026-03-13", "decision": "2026-03-27"}
    assert action(market, case_id, "start_review").get_json()["state"] == "under_review"

    runner = app.test_cli_runner()
    result = runner.invoke(args=["simulate", "--until", "2026-03-14"])  # Saturday after the last day
    assert result.exit_code == 0, result.output
    assert "2026-03-14: fired" not in result.output
    assert enterprise.get(f"/api/v1/cases/{case_id}").get_json()["state"] == "under_review"
    result = runner.invoke(args=["simulate", "--until", "2026-03-16"])
    assert result.exit_code == 0, result.output
    assert "2026-03-16: fired=1" in result.output
    overdue = enterprise.get(f"/api/v1/cases/{case_id}").get_json()
    assert overdue["state"] == "overdue"
    assert overdue["events"][-1]["trigger"] == "mark_overdue" and overdue["events"][-1]["actor_role"] == "system"
    assert overdue["events"][-1]["at"].startswith("2026-03-16")
    assert {d["kind"]: d["status"] for d in overdue["deadlines"]} == {"supply": "expired", "decision": "met"}

    done = action(market, case_id, "terminate", {"reason": "逾期未补齐材料，终止办理"}).get_json()
    assert done["state"] == "dishonesty_recorded" and done["terminal"]
    assert [e["trigger"] for e in done["events"][-2:]] == ["terminate", "record_dishonesty"]
    assert done["details"]["outcome"] == "terminated"
    records = enterprise.get(f"/api/v1/subjects/{s10}/records").get_json()["records"]
    assert len(records) == 1 and records[0]["active"] and "违反信用承诺" in records[0]["title"]

    # The next 容缺 application is refused at the credit check, with the reason.
    again = apply(enterprise, s10, {**FOOD, "missing": ["business_licence"]}).get_json()
    rechecked = action(window, again["id"], "check_credit").get_json()
    assert rechecked["details"]["check_passes"] is False
    sign = next(a for a in enterprise.get(f"/api/v1/cases/{again['id']}").get_json()["available_actions"]
                if a["trigger"] == "sign")
    assert not sign["enabled"] and "修复前不适用容缺受理" in sign["reasons"][0]
    refused_sign = action(enterprise, again["id"], "sign", {"signer_name": "陈某", "commitment_accepted": True})
    assert refused_sign.status_code == 409
    refused = action(window, again["id"], "refuse_route").get_json()
    assert refused["state"] == "refused_route" and "修复前不适用容缺受理" in refused["details"]["refused_reason"]
    assert len(enterprise.get(f"/api/v1/subjects/{s10}/records").get_json()["records"]) == 1


def test_refusals_at_application_are_422_with_the_reason(api, app, s10):
    enterprise = api.as_user("enterprise")
    off_list = apply(enterprise, s10, {**FOOD, "matter": "fireworks-licence"})
    assert off_list.status_code == 422 and "不在容缺受理清单内" in off_list.get_json()["message"]
    core = apply(enterprise, s10, {**FOOD, "missing": ["premises_layout"]})
    assert core.status_code == 422
    assert core.get_json()["message"] == "核心材料不全，不适用容缺受理 / core material missing"
    assert apply(enterprise, s10, {**FOOD, "missing": []}).status_code == 422
    with app.app_context():
        assert db.session.execute(db.select(Case).where(Case.case_type == "deficiency_acceptance")).first() is None


def test_supply_of_an_item_not_missing_is_422_and_certificate_waits_for_every_item(api, app, s10):
    enterprise, market = api.as_user("enterprise"), api.as_user("market")
    case_id = accepted_case(api, s10)
    assert upload(enterprise, case_id, "staff_health_certificates").status_code == 422  # not a missing item
    assert upload(enterprise, case_id, "business_licence").status_code == 201
    assert action(enterprise, case_id, "supply", {"items": ["safety_rules"]}).status_code == 422
    assert action(enterprise, case_id, "supply").get_json()["details"]["missing"] == ["legal_rep_id"]
    assert upload(enterprise, case_id, "business_licence").status_code == 422  # supplied: no longer missing
    action(market, case_id, "start_review")
    action(market, case_id, "decide_pending_supply")
    blocked = action(market, case_id, "issue_certificate")
    assert blocked.status_code == 409
    assert any("法定代表人身份证明（未补交）" in r for r in blocked.get_json()["details"]["reasons"])
    upload(enterprise, case_id, "legal_rep_id")
    action(enterprise, case_id, "supply")
    checked = action(market, case_id, "check_items", {"verdict": "conforms"}).get_json()
    assert all(i["conforms"] for i in checked["details"]["items"])
    issued = action(market, case_id, "issue_certificate").get_json()
    assert issued["state"] == "certificate_issued"
    assert issued["details"]["certificate_no"] == f"RQZ-2026-{case_id:06d}"
    assert dues(issued) == {"post_issue_check": "2026-03-11"}
    with app.app_context():
        message = db.session.execute(db.select(OutboxMessage).where(OutboxMessage.event == "rongque-issued")).scalars()
        assert any(f"RQZ-2026-{case_id:06d}" in m.body for m in message)


def test_visibility_and_roles(api, app, s10):
    case_id = accepted_case(api, s10)
    assert api.as_user("reviewer").get(f"/api/v1/cases/{case_id}").status_code == 404  # another department
    assert api.as_user("person").get(f"/api/v1/cases/{case_id}").status_code == 404
    assert action(api.as_user("window"), case_id, "start_review").status_code == 403
    assert action(api.as_user("enterprise"), case_id, "start_review").status_code == 403
    listed = api.as_user("market").get("/api/v1/cases?case_type=deficiency_acceptance").get_json()["cases"]
    assert [c["id"] for c in listed] == [case_id]


def test_case_types_endpoint_lists_the_machine(api, app):
    types = {t["key"]: t for t in api.get("/api/v1/case-types").get_json()["case_types"]}
    rq = types["deficiency_acceptance"]
    assert rq["initial"] == "applied" and "dishonesty_recorded" in rq["terminal"]
    assert {t["kind"]: (t["budget"], t["unit"]) for t in rq["timers"]} == {
        "supply": (20, "wd"), "decision": (20, "wd"), "post_issue_check": (30, "cd")}


# --- pages ---------------------------------------------------------------------------------------

def login(app, username: str) -> Browser:
    browser = Browser(app)
    assert browser.login(username).status_code == 302
    return browser


def html(response) -> str:
    return response.get_data(as_text=True)


def act(browser: Browser, case_id: int, trigger: str, data: dict | None = None):
    """Post an action as its form would (a blocked action has no form: then without a version)."""
    page = html(browser.get(f"/cases/{case_id}"))
    version = VERSION_RE.search(page)
    return browser.client.post(f"/cases/{case_id}/actions/{trigger}", data={
        **(data or {}), "expected_version": version.group(1) if version else "", "csrf_token": csrf_token_from(page)})


def file_in(browser: Browser, case_id: int, key: str):
    url = f"/cases/{case_id}"
    return browser.post_form(url, f"{url}/attachments", {"material_key": key, "file": (io.BytesIO(PDF), f"{key}.pdf")},
                             content_type="multipart/form-data")


def apply_on_page(browser: Browser, subject_id: int, ticked: list[str], **extra):
    return browser.post_form("/portal/deficiency/new", "/portal/deficiency/new", {
        "subject_id": str(subject_id), "matter": "food-business-licence", "missing-food-business-licence": ticked,
        "core_complete": "on", **extra})


def test_the_application_form_lists_the_matters_and_refuses_a_core_item(app, s10):
    enterprise = login(app, "enterprise")
    page = html(enterprise.get("/portal/deficiency/new"))
    assert "食品经营许可" in page and "法定代表人身份证明" in page and "文登区示范餐饮有限公司" in page
    assert 'value="construction-permit" disabled' in page  # its department is not registered in the demo
    refused = apply_on_page(enterprise, s10, ["business_licence", "premises_layout"])
    assert refused.status_code == 422
    assert "核心材料不全，不适用容缺受理" in html(refused) and "经营场所平面布局图" in html(refused)
    nothing = apply_on_page(enterprise, s10, [])
    assert nothing.status_code == 422 and "至少勾选一项" in html(nothing)
    assert login(app, "window").get("/portal/deficiency/new").status_code == 403


def test_the_whole_journey_on_the_pages(app, s10):
    enterprise, window, market = login(app, "enterprise"), login(app, "window"), login(app, "market")
    filed = apply_on_page(enterprise, s10, ["business_licence", "legal_rep_id"])
    assert filed.status_code == 302
    case_id = int(filed.headers["Location"].rsplit("/", 1)[1])
    inbox = html(window.get("/review"))
    assert f"/cases/{case_id}" in inbox
    assert act(window, case_id, "check_credit").status_code == 302
    page = html(enterprise.get(f"/cases/{case_id}"))
    assert 'data-testid="deficiency-details"' in page and "营业执照复印件、法定代表人身份证明" in page  # the commitment to read
    assert act(enterprise, case_id, "sign", {"signer_name": "陈某", "commitment_accepted": "on"}).status_code == 302
    assert act(market, case_id, "accept", {"note": "请尽快补齐"}).status_code == 302
    page = html(enterprise.get(f"/cases/{case_id}"))
    assert page.count('data-testid="item-due">2026-03-13') == 2 and 'data-testid="upload-form"' in page
    supply_blocked = 'data-testid="action-blocked-supply"' in page
    assert supply_blocked  # nothing uploaded yet: the button says why
    for key in ("business_licence", "legal_rep_id"):
        assert file_in(enterprise, case_id, key).status_code == 302
    assert act(enterprise, case_id, "supply", {"items": ""}).status_code == 302  # the hidden field posts ""
    assert act(market, case_id, "start_review").status_code == 302
    assert act(market, case_id, "decide_pending_supply").status_code == 302
    assert act(market, case_id, "check_items", {"verdict": "conforms", "items": ""}).status_code == 302
    assert act(market, case_id, "issue_certificate").status_code == 302
    number = f"RQZ-2026-{case_id:06d}"
    assert number in html(enterprise.get(f"/cases/{case_id}"))
    listing = html(enterprise.get("/portal/deficiency"))
    assert number in listing and f'data-testid="deficiency-{case_id}"' in listing
    assert 'href="/portal/deficiency"' in html(enterprise.get("/portal"))  # the nav link


def test_a_refused_action_on_the_page_shows_the_reasons(app, s10):
    enterprise, window, market = login(app, "enterprise"), login(app, "window"), login(app, "market")
    filed = apply_on_page(enterprise, s10, ["legal_rep_id"])
    case_id = int(filed.headers["Location"].rsplit("/", 1)[1])
    act(window, case_id, "check_credit")
    act(enterprise, case_id, "sign", {"signer_name": "陈某", "commitment_accepted": "on"})
    act(market, case_id, "accept")
    act(market, case_id, "start_review")
    act(market, case_id, "decide_pending_supply")
    response = act(market, case_id, "issue_certificate")
    assert response.status_code == 409
    assert "法定代表人身份证明（未补交）" in html(response)
    with app.app_context():
        assert db.session.get(Case, case_id).state == "decided_pending_supply"
        assert db.session.execute(db.select(CreditRecord).where(CreditRecord.subject_id == s10)).first() is None
