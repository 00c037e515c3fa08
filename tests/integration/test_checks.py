"""Credit checks (信用核查) as their users meet them: the API (open, read, record the use), the check
log and the new-check form through the pages with CSRF, and who may see what.

Demo data on the fixture day 2026-04-13: subject 1 (company, reviewer "reviewer" is in the
law-enforcement bureau) has an active 一般 record; subject 2 (shop) is clean today; subject 3 is a
natural person with an active 一般 record.
"""
from __future__ import annotations

import re

import pytest
from page_client import Browser, csrf_token_from

from models import Case, CaseEvent, CreditCheck, Subject, db
from webapp.demo import PERSON_ID, _with_check

OPEN = {"matter_type": "administrative_licensing", "matter": "建筑工程施工许可（文建许〔2026〕45号）",
        "purpose": "办理施工许可前核查申请人信用状况"}
VERSION_RE = re.compile(r'name="expected_version" value="(\d+)"')


def as_user(app, username: str) -> Browser:
    browser = Browser(app)
    response = browser.login(username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser


def html(response) -> str:
    return response.get_data(as_text=True)


def open_check(api, username: str = "reviewer", subject_id: int = 1, **data):
    return api.as_user(username).post("/api/v1/cases", json={
        "case_type": "verification", "subject_id": subject_id, "data": {**OPEN, **data}})


# --- API ----------------------------------------------------------------------------------------

def test_reviewer_opens_a_check_and_reads_the_result(api, app, demo):
    response = open_check(api)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["case_type"] == "verification" and body["reference"].startswith("HC-2026-")
    assert body["state"] == "result_issued" and body["state_label_zh"] == "已出具结果"
    details = body["details"]
    assert details["result"] == "has_dishonesty" and details["result_label_en"] == "Has dishonesty records"
    assert [r["id"] for r in details["snapshot_records"]] == [1]
    assert [(e["trigger"], e["actor_role"]) for e in body["events"]] == [
        ("open", "reviewer"), ("query", "system"), ("issue_result", "system")]
    assert body["events"][0]["payload"]["purpose"] == OPEN["purpose"]
    assert body["events"][2]["payload"] == {"result": "has_dishonesty", "snapshot_sha256": details["snapshot_sha256"]}
    assert [a["trigger"] for a in body["available_actions"]] == ["record_use"]
    fields = {f["name"]: f for f in body["available_actions"][0]["fields"]}
    assert {c["value"] for c in fields["measure"]["choices"]} >= {"normal", "require_commitment", "restrict"}

    again = api.as_user("reviewer").get(f"/api/v1/cases/{body['id']}")
    assert again.status_code == 200 and again.get_json()["details"] == details


def test_the_credit_center_and_the_auditor_see_every_check_another_department_does_not(api, app, demo):
    case_id = open_check(api).get_json()["id"]
    for username in ("window", "admin", "auditor", "head"):
        assert api.as_user(username).get(f"/api/v1/cases/{case_id}").status_code == 200, username
    assert api.as_user("market").get(f"/api/v1/cases/{case_id}").status_code == 404
    listed = api.as_user("market").get("/api/v1/cases?case_type=verification").get_json()["cases"]
    assert listed == []


@pytest.mark.parametrize("username,subject_id", [("enterprise", 1), ("person", 3)])
def test_an_applicant_cannot_request_a_check(api, app, demo, username, subject_id):
    response = open_check(api, username, subject_id)
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"
    with app.app_context():
        assert db.session.query(CreditCheck).count() == 0


@pytest.mark.parametrize("username", ["admin", "auditor"])
def test_administrators_and_auditors_read_but_do_not_request(api, app, demo, username):
    assert open_check(api, username).status_code == 403


def test_a_check_without_a_purpose_is_422(api, app, demo):
    response = open_check(api, purpose="")
    assert response.status_code == 422
    assert "purpose" in response.get_json()["details"]["fields"]


def test_record_use_through_the_api(api, app, demo):
    reviewer = api.as_user("reviewer")
    body = open_check(api).get_json()
    url = f"/api/v1/cases/{body['id']}/actions/record_use"
    response = reviewer.post(url, json={"data": {"measure": "require_commitment", "note": "已要求申请人签署信用承诺书"},
                                        "expected_version": body["version"]})
    assert response.status_code == 200, response.get_json()
    after = response.get_json()
    assert after["state"] == "applied" and after["terminal"] is True
    assert after["details"]["use_measure"] == "require_commitment"
    assert after["details"]["use_recorded"] == "要求信用承诺：已要求申请人签署信用承诺书"
    assert after["events"][-1]["actor_role"] == "reviewer"
    # Nothing follows the terminal state.
    assert reviewer.post(url, json={"data": {"measure": "normal", "note": "再次"}}).status_code == 409


def test_record_use_rules(api, app, demo):
    clean = open_check(api, subject_id=2).get_json()
    assert clean["details"]["result"] == "clean"
    url = f"/api/v1/cases/{clean['id']}/actions/record_use"
    refused = api.as_user("reviewer").post(url, json={"data": {"measure": "restrict", "note": "不予办理"}})
    assert refused.status_code == 409
    assert any("no basis" in r for r in refused.get_json()["details"]["reasons"])
    assert api.as_user("window").post(url, json={"data": {"measure": "normal", "note": "正常办理"}}).status_code == 403
    assert api.as_user("market").post(url, json={"data": {"measure": "normal", "note": "正常办理"}}).status_code == 404
    bad = api.as_user("reviewer").post(url, json={"data": {"measure": "shrug", "note": "x"}})
    assert bad.status_code == 422 and set(bad.get_json()["details"]["fields"]) == {"measure", "note"}


def test_a_persons_id_number_is_masked_in_the_check(api, app, demo):
    body = open_check(api, subject_id=3).get_json()
    full = _with_check(PERSON_ID, "id")
    assert body["details"]["snapshot_subject"]["identifier"] != full
    assert full not in str(body["details"]) and body["subject"]["id_number"] != full


def test_the_case_types_list_describes_verification(api, app):
    types = {ct["key"]: ct for ct in api.get("/api/v1/case-types").get_json()["case_types"]}
    verification = types["verification"]
    assert verification["initial"] == "requested" and verification["terminal"] == ["applied"]
    assert [s["trigger"] for s in verification["steps"]] == ["query", "issue_result", "record_use"]


# --- pages --------------------------------------------------------------------------------------

def test_the_nav_links_the_log_for_staff_only(app, demo):
    for username in ("reviewer", "window", "admin", "auditor"):
        assert 'data-testid="nav-checks.index"' in html(as_user(app, username).get("/review")), username
    assert 'data-testid="nav-checks.index"' not in html(as_user(app, "enterprise").get("/portal"))


def test_new_check_through_the_form_lands_on_the_case_page(app, demo):
    browser = as_user(app, "reviewer")
    with app.app_context():
        uscc = db.session.get(Subject, 1).uscc
    response = browser.post_form("/checks/new", "/checks/new", {"subject": uscc.lower(), **OPEN})
    assert response.status_code == 302, html(response)
    case_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    page = html(browser.get(f"/cases/{case_id}"))
    assert 'data-testid="check-details"' in page and 'data-result="has_dishonesty"' in page
    assert "有失信记录" in page and 'data-testid="snapshot-record-1"' in page and "违法建设行政处罚" in page
    assert OPEN["purpose"] in page and OPEN["matter"] in page
    assert 'data-testid="action-record_use"' in page
    assert 'data-testid="case-details"' not in page  # the repair facts card is not drawn for a check
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.case_type == "verification" and case.state == "result_issued"
        assert case.events[0].actor_role == "reviewer"

    # The department records its use from the case page.
    version = VERSION_RE.search(page).group(1)
    done = browser.client.post(f"/cases/{case_id}/actions/record_use", data={
        "measure": "key_supervision", "note": "列为重点监管对象，提高抽查比例", "expected_version": version,
        "csrf_token": csrf_token_from(page)})
    assert done.status_code == 302
    page = html(browser.get(f"/cases/{case_id}"))
    assert 'data-testid="check-use"' in page and "重点监管" in page and "提高抽查比例" in page


def test_new_check_by_id_number_of_a_person(app, demo):
    browser = as_user(app, "reviewer")
    full = _with_check(PERSON_ID, "id")
    response = browser.post_form("/checks/new", "/checks/new", {"subject": full, **OPEN})
    assert response.status_code == 302
    page = html(browser.get(response.headers["Location"]))
    assert "张某" in page and full not in page


def test_a_name_search_with_several_matches_asks_which_one(app, demo):
    browser = as_user(app, "reviewer")
    response = browser.post_form("/checks/new", "/checks/new", {"subject": "示范", **OPEN})
    assert response.status_code == 200
    page = html(response)
    assert 'data-testid="subject-candidates"' in page and 'value="1"' in page and 'value="2"' in page
    # The typed matter survives; choosing a subject completes the check.
    assert OPEN["matter"] in page
    chosen = browser.client.post("/checks/new", data={"subject_id": "2", **OPEN, "csrf_token": csrf_token_from(page)})
    assert chosen.status_code == 302
    assert 'data-result="clean"' in html(browser.get(chosen.headers["Location"]))


def test_a_unique_name_match_is_taken_at_once(app, demo):
    response = as_user(app, "reviewer").post_form("/checks/new", "/checks/new", {"subject": "食品商行", **OPEN})
    assert response.status_code == 302


def test_form_errors_are_shown_beside_the_fields(app, demo):
    browser = as_user(app, "reviewer")
    response = browser.post_form("/checks/new", "/checks/new", {"subject": "不存在的公司", "matter_type": "",
                                                                "matter": "", "purpose": ""})
    assert response.status_code == 422
    page = html(response)
    for name in ("subject", "matter_type", "matter", "purpose"):
        assert f'data-testid="error-{name}"' in page, name
    with app.app_context():
        assert db.session.query(Case).count() == 0


def test_the_form_preselects_a_subject_by_id(app, demo):
    page = html(as_user(app, "reviewer").get("/checks/new?subject_id=3"))
    assert 'data-testid="chosen-subject"' in page and "张某" in page and _with_check(PERSON_ID, "id") not in page


def test_a_post_without_csrf_is_refused(app, demo):
    response = as_user(app, "reviewer").client.post("/checks/new", data={"subject": "示范", **OPEN})
    assert response.status_code == 400


@pytest.mark.parametrize("username", ["admin", "auditor", "enterprise"])
def test_only_reviewers_get_the_form(app, demo, username):
    assert as_user(app, username).get("/checks/new").status_code == 403


def test_the_log_shows_who_asked_why_and_what_was_found(app, demo, api):
    mine = open_check(api).get_json()["id"]
    theirs = open_check(api, "market", subject_id=2, purpose="食品经营许可前核查").get_json()["id"]
    page = html(as_user(app, "reviewer").get("/checks"))
    rows = re.findall(r'data-testid="check-row" data-case-id="(\d+)"', page)
    assert rows == [str(mine)]
    assert OPEN["purpose"] in page and "执法局审核员" in page and "有失信记录" in page and "行政许可" in page
    assert 'data-testid="new-check"' in page
    for username in ("window", "admin", "auditor"):
        page = html(as_user(app, username).get("/checks"))
        assert set(re.findall(r'data-testid="check-row" data-case-id="(\d+)"', page)) == {str(mine), str(theirs)}
    assert 'data-testid="new-check"' not in html(as_user(app, "auditor").get("/checks"))
    market = html(as_user(app, "market").get("/checks"))
    assert re.findall(r'data-testid="check-row" data-case-id="(\d+)"', market) == [str(theirs)]


def test_the_log_filters_by_result(app, demo, api):
    open_check(api)
    clean = open_check(api, subject_id=2).get_json()["id"]
    page = html(as_user(app, "window").get("/checks?result=clean"))
    assert re.findall(r'data-testid="check-row" data-case-id="(\d+)"', page) == [str(clean)]


def test_applicants_cannot_read_the_log(app, demo):
    assert as_user(app, "enterprise").get("/checks").status_code == 403


def test_another_departments_reviewer_cannot_see_the_check(app, demo, api):
    case_id = open_check(api).get_json()["id"]
    assert as_user(app, "market").get(f"/cases/{case_id}").status_code == 404
    assert as_user(app, "head").get(f"/cases/{case_id}").status_code == 200


def test_every_check_is_in_the_ledger(app, demo, api):
    case_id = open_check(api).get_json()["id"]
    with app.app_context():
        events = db.session.execute(db.select(CaseEvent).where(CaseEvent.case_id == case_id)
                                    .order_by(CaseEvent.seq)).scalars().all()
        assert events[0].actor_name == "执法局审核员 / Enforcement reviewer" and events[0].actor_role == "reviewer"
        assert events[0].payload["purpose"] == OPEN["purpose"]


def test_the_checked_subjects_applicant_does_not_see_the_check(api, app, demo):
    """A credit check is government sharing: who asked and why is not shown to the subject."""
    reviewer = api.as_user("reviewer")
    created = reviewer.post("/api/v1/cases", json={"case_type": "verification", "subject_id": 1, "data": {
        "matter_type": "administrative_licensing", "matter": "许可证", "purpose": "办理许可前核查"}})
    assert created.status_code == 201, created.get_json()
    enterprise = api.as_user("enterprise")
    assert enterprise.get(f"/api/v1/cases/{created.get_json()['id']}").status_code == 404
    assert all(c["case_type"] != "verification" for c in enterprise.get("/api/v1/cases").get_json()["cases"])
