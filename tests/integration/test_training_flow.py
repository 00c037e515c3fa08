"""Credit repair training through the JSON API and the pages, as the real roles: sessions, enrolment
refusals with their reasons (capacity, closing day), attendance → assessment → certificate, and a
serious-record repair that needs a certificate when the locality's rule is on (DOMAIN.md §3.4, §4.1).

Dates: the fixture clock is Monday 2026-04-13. The session is Monday 2026-04-20, so enrolment closes
on Friday 04-17 (1 WD before), certificates are due Thursday 04-23 (3 WD), and a certificate is valid
until 2027-04-20 (12 M).
"""
from __future__ import annotations

import io
from datetime import datetime

import pytest

from models import CaseEvent, OutboxMessage, db
from page_client import csrf_token_from
from workflows.clock import BEIJING

SESSION = {"title": "信用修复专题培训（第一期）", "held_on": "2026-04-20", "starts_at": "09:30", "mode": "onsite",
           "place": "文登区政务服务中心三楼培训室", "hours": 4, "capacity": 30}
REPAIR_SUBMIT = {"statement": "罚款已缴纳，已停止违法行为并整改完毕", "signer_name": "李某", "commitment_accepted": True}
#: The locality asks serious repairs for a training certificate (and, to test expiry, a short validity).
REQUIRE = {"repair.require_training_certificate_for_serious": True}
REQUIRE_SHORT = {**REQUIRE, "training.certificate_valid_m": 1}


@pytest.fixture
def app_config(app_config, request):
    """Rules are configuration: a test asks for overrides with indirect parametrisation."""
    return {**app_config, "RULE_OVERRIDES": getattr(request, "param", {})}


def at(y, m, d, h=10):
    return datetime(y, m, d, h, tzinfo=BEIJING)


def schedule(trainer, **changes) -> dict:
    response = trainer.post("/api/v1/training/sessions", json={**SESSION, **changes})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def enrol(client, session_id, subject_id=1, attendee="李某"):
    return client.post(f"/api/v1/training/sessions/{session_id}/enrolments",
                       json={"subject_id": subject_id, "attendee_name": attendee})


def enrolled(client, session_id, subject_id=1) -> dict:
    response = enrol(client, session_id, subject_id)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def act(client, case_id, trigger, **data):
    return client.post(f"/api/v1/cases/{case_id}/actions/{trigger}", json={"data": data})


def acted(client, case_id, trigger, **data) -> dict:
    response = act(client, case_id, trigger, **data)
    assert response.status_code == 200, (trigger, response.get_json())
    return response.get_json()


def certified(api, clock, subject_id=1, applicant="enterprise", held_on="2026-04-20") -> dict:
    """Schedule, enrol, attend, pass and issue: the certificate payload."""
    trainer = api.as_user("trainer")
    clock.set(at(2026, 4, 13, 9))  # enrolment open
    session = schedule(trainer, held_on=held_on)
    case = enrolled(api.as_user(applicant), session["id"], subject_id)
    y, m, d = (int(x) for x in held_on.split("-"))
    clock.set(at(y, m, d, 16))
    acted(trainer, case["id"], "mark_attended")
    acted(trainer, case["id"], "pass_assessment", score=90)
    issued = acted(trainer, case["id"], "issue_certificate")
    return issued["details"]["certificate"]


# --- enrolment refusals -------------------------------------------------------------------------

def test_a_full_session_refuses_with_409_naming_the_capacity(app, demo, api):
    trainer, enterprise, person = api.as_user("trainer"), api.as_user("enterprise"), api.as_user("person")
    session = schedule(trainer, capacity=1)
    enrolled(enterprise, session["id"], 1)
    response = enrol(person, session["id"], 3, attendee="张某")
    body = response.get_json()
    assert response.status_code == 409 and body["error"] == "transition_not_allowed"
    assert "名额已满（共1人）" in body["message"] and "capacity 1" in body["message"]
    assert body["details"]["capacity"] == 1
    state = trainer.get(f"/api/v1/training/sessions/{session['id']}").get_json()
    assert (state["places_taken"], state["places_left"], state["enrolment_open"]) == (1, 0, False)
    assert [e["subject_id"] for e in state["enrolments"]] == [1]
    # The full session is no longer offered to applicants.
    assert session["id"] not in {s["id"] for s in person.get("/api/v1/training/sessions").get_json()["sessions"]
                                 if s["enrolment_open"]}


def test_enrolment_after_the_closing_day_refuses_naming_it(app, demo, api, clock):
    session = schedule(api.as_user("trainer"))
    assert session["enrolment_last_day"] == "2026-04-17" and session["certificate_due_on"] == "2026-04-23"
    clock.set(at(2026, 4, 18, 8))
    response = enrol(api.as_user("enterprise"), session["id"])
    body = response.get_json()
    assert response.status_code == 409
    assert "报名已于 2026-04-17 截止" in body["message"] and "enrolment closed on 2026-04-17" in body["message"]
    assert body["details"]["enrolment_last_day"] == "2026-04-17"


def test_enrolling_for_a_subject_one_does_not_act_for_is_403(app, demo, api):
    session = schedule(api.as_user("trainer"))
    assert enrol(api.as_user("person"), session["id"], 1).status_code == 403
    assert enrol(api.as_user("trainer"), session["id"], 1).status_code == 403
    assert enrol(api.as_user("enterprise"), 999, 1).status_code == 404


def test_only_trainers_schedule_and_bad_input_is_422(app, demo, api):
    assert api.as_user("window").post("/api/v1/training/sessions", json=SESSION).status_code == 403
    response = api.as_user("trainer").post("/api/v1/training/sessions", json={**SESSION, "capacity": 0, "mode": "tv"})
    assert response.status_code == 422
    assert {"capacity", "mode"} <= set(response.get_json()["details"]["fields"])


# --- attendance, assessment, certificate ----------------------------------------------------------

def test_attendance_pass_and_certificate_with_serial_and_validity(app, demo, api, clock):
    trainer, enterprise = api.as_user("trainer"), api.as_user("enterprise")
    session = schedule(trainer)
    case = enrolled(enterprise, session["id"])
    assert case["state"] == "enrolled" and case["reference"].startswith("PX-2026-")
    early = act(trainer, case["id"], "mark_attended")
    assert early.status_code == 409 and "2026-04-20" in early.get_json()["details"]["reasons"][0]
    clock.set(at(2026, 4, 20, 16))
    attended = acted(trainer, case["id"], "mark_attended")
    (deadline,) = attended["deadlines"]
    assert (deadline["kind"], deadline["start"], deadline["due"]) == ("certificate", "2026-04-20", "2026-04-23")
    acted(trainer, case["id"], "pass_assessment", score=92, note="掌握信用修复政策")
    clock.set(at(2026, 4, 22))
    issued = acted(trainer, case["id"], "issue_certificate")
    cert = issued["details"]["certificate"]
    assert issued["state"] == "certificate_issued" and issued["deadlines"][0]["status"] == "met"
    assert cert["serial"].startswith(case["reference"] + "-") and len(cert["serial"]) == len(case["reference"]) + 7
    assert (cert["session_date"], cert["hours"], cert["issued_on"], cert["valid_until"]) == (
        "2026-04-20", 4, "2026-04-22", "2027-04-20")
    assert cert["subject_identifier"] == enterprise.get("/api/v1/subjects/1").get_json()["uscc"]
    # Looked up by its number: the holder and department reviewers may; a stranger may not know it exists.
    lookup = enterprise.get(f"/api/v1/training/certificates/{cert['serial'].lower()}")
    assert lookup.status_code == 200 and lookup.get_json()["valid_until"] == "2027-04-20"
    assert api.as_user("reviewer").get(f"/api/v1/training/certificates/{cert['serial']}").status_code == 200
    assert api.as_user("person").get(f"/api/v1/training/certificates/{cert['serial']}").status_code == 404
    with app.app_context():
        events = db.session.execute(db.select(CaseEvent).where(CaseEvent.case_id == case["id"])
                                    .order_by(CaseEvent.seq)).scalars().all()
        assert [e.trigger for e in events] == ["open", "mark_attended", "pass_assessment", "issue_certificate"]
        assert events[-1].payload["certificate"]["serial"] == cert["serial"]
        told = db.session.execute(db.select(OutboxMessage).where(
            OutboxMessage.case_id == case["id"], OutboxMessage.event == "training-certificate-issued")).scalars().all()
        assert told and all(m.recipient_user_id == demo_user_id("enterprise") for m in told)


def demo_user_id(username: str) -> int:
    from models import User

    return db.session.execute(db.select(User.id).where(User.username == username)).scalar_one()


def test_absent_and_failed_enrollees_get_no_certificate(app, demo, api, clock):
    trainer, enterprise = api.as_user("trainer"), api.as_user("enterprise")
    session = schedule(trainer)
    company, shop = enrolled(enterprise, session["id"], 1), enrolled(enterprise, session["id"], 2)
    clock.set(at(2026, 4, 20, 16))
    absent = acted(trainer, company["id"], "mark_absent", note="未到场")
    assert absent["state"] == "absent" and absent["details"]["certificate"] is None
    assert absent["available_actions"] == []
    acted(trainer, shop["id"], "mark_attended")
    failed = acted(trainer, shop["id"], "fail_assessment", score=45, reason="考核成绩未达60分")
    assert failed["state"] == "failed" and failed["details"]["certificate"] is None
    assert act(trainer, shop["id"], "issue_certificate").status_code == 409
    page = enterprise.client.get("/training/sessions", headers={"Authorization": f"Bearer {enterprise.token}"})
    assert page.status_code == 200 and "尚无培训证明" in page.get_data(as_text=True)


# --- pages ------------------------------------------------------------------------------------------

def test_trainer_pages_schedule_mark_and_issue_in_a_few_clicks(app, demo, browser, clock):
    browser.login("trainer")
    home = browser.get("/training").get_data(as_text=True)
    assert 'data-testid="nav-training.index"' in home and "培训管理" in home
    created = browser.post_form("/training/sessions/new", "/training/sessions/new", {
        "title": "信用修复专题培训（第二期）", "held_on": "2026-04-20", "starts_at": "09:30", "mode": "online",
        "place": "https://meeting.example.cn/px2", "hours": "3", "capacity": "20"})
    assert created.status_code == 302
    session_url = created.headers["Location"]
    bad = browser.post_form("/training/sessions/new", "/training/sessions/new", {
        "title": "过去的培训", "held_on": "2026-04-01", "starts_at": "09:30", "mode": "onsite", "place": "三楼",
        "hours": "3", "capacity": "20"})
    assert bad.status_code == 422 and "不能早于今天" in bad.get_data(as_text=True)

    applicant = type(browser)(app)
    applicant.login("enterprise")
    listing = applicant.get("/training/sessions").get_data(as_text=True)
    assert "信用修复专题培训（第二期）" in listing and 'data-testid="nav-training.sessions"' in listing
    session_id = int(session_url.rstrip("/").rsplit("/", 1)[1])
    response = applicant.post_form(session_url, f"/training/sessions/{session_id}/enrol",
                                   {"subject_id": "1", "attendee_name": "李某"})
    assert response.status_code == 302 and "/cases/" in response.headers["Location"]
    case_page = applicant.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="training-details"' in case_page and "信用修复专题培训（第二期）" in case_page

    page = browser.get(session_url).get_data(as_text=True)
    assert 'data-testid="enrolments"' in page and "李某" in page
    assert "培训尚未举行" in page  # attendance is offered only from the session day, with the reason
    clock.set(at(2026, 4, 20, 16))
    page = browser.get(session_url).get_data(as_text=True)
    reference = "PX-" + page.split('data-testid="enrolment-PX-', 1)[1].split('"', 1)[0]
    assert f'data-testid="quick-{reference}-mark_attended"' in page
    case_id = int(page.split(f'data-testid="quick-{reference}-mark_attended"', 1)[0].rsplit("/cases/", 1)[1]
                  .split("/", 1)[0])
    for trigger in ("mark_attended", "pass_assessment", "issue_certificate"):
        done = browser.post_form(session_url, f"/training/sessions/{session_id}/cases/{case_id}/actions/{trigger}", {})
        assert done.status_code == 302, (trigger, done.get_data(as_text=True)[:500])
    page = browser.get(session_url).get_data(as_text=True)
    assert 'data-state="certificate_issued"' in page and f"{reference}-" in page
    serial = page.split('data-testid="certificate-link">', 1)[1].split("<", 1)[0]
    printable = applicant.get(f"/training/certificates/{serial}").get_data(as_text=True)
    assert serial in printable and "2027-04-20" in printable and "经考核合格" in printable
    assert "3</strong> 学时" in printable


def test_a_failed_quick_action_shows_the_field_error_on_the_session_page(app, demo, api, browser, clock):
    session = schedule(api.as_user("trainer"))
    case = enrolled(api.as_user("enterprise"), session["id"])
    clock.set(at(2026, 4, 20, 16))
    acted(api.as_user("trainer"), case["id"], "mark_attended")
    browser.login("trainer")
    url = f"/training/sessions/{session['id']}"
    response = browser.post_form(url, f"{url}/cases/{case['id']}/actions/fail_assessment", {"reason": ""})
    assert response.status_code == 422
    assert case["reference"] in response.get_data(as_text=True) and 'data-testid="alert"' in response.get_data(
        as_text=True)


def test_the_enrol_page_shows_a_closed_session_with_its_date(app, demo, api, browser, clock):
    session = schedule(api.as_user("trainer"))
    browser.login("enterprise")
    url = f"/training/sessions/{session['id']}"
    page = browser.get(url)
    clock.set(at(2026, 4, 18, 8))
    token = csrf_token_from(page.get_data(as_text=True))
    response = browser.client.post(f"{url}/enrol", data={"subject_id": "1", "attendee_name": "李某",
                                                         "csrf_token": token})
    text = response.get_data(as_text=True)
    assert response.status_code == 409 and "2026-04-17" in text and 'data-testid="alert"' in text
    assert "报名已于 2026-04-17 截止" in browser.get(url).get_data(as_text=True)


# --- credit repair with the certificate requirement ------------------------------------------------

def serious_record(api, decided_on="2025-03-03") -> int:
    response = api.as_user("admin").post("/api/v1/subjects/1/records", json={
        "title": "违法排污行政处罚（责令停产整治）", "severity": "serious", "decided_on": decided_on,
        "department_code": "law-enforcement", "points": -50, "category": "environment",
        "document_no": "文综执罚〔2025〕9号"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def repair_case(api, record_id) -> dict:
    response = api.as_user("enterprise").post("/api/v1/cases", json={
        "case_type": "credit_repair", "subject_id": 1, "data": {"record_id": record_id}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def upload(client, case_id, key):
    response = client.post(f"/api/v1/cases/{case_id}/attachments", content_type="multipart/form-data",
                           data={"material_key": key, "file": (io.BytesIO(b"%PDF-1.4 " + key.encode()), f"{key}.pdf")})
    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize("app_config", [REQUIRE], indirect=True)
def test_a_serious_repair_is_blocked_until_a_valid_certificate_is_linked(app, demo, api, clock):
    enterprise, window = api.as_user("enterprise"), api.as_user("window")
    record_id = serious_record(api)
    theirs = certified(api, clock, subject_id=3, applicant="person")
    ours = certified(api, clock, subject_id=1)
    clock.set(at(2026, 4, 22))
    repair = repair_case(api, record_id)
    assert {m["key"]: m["present"] for m in repair["details"]["materials"]}["training_certificate"] is False

    blocked = act(enterprise, repair["id"], "submit", **REPAIR_SUBMIT)
    body = blocked.get_json()
    assert blocked.status_code == 409 and any("培训证明" in r for r in body["details"]["reasons"])
    unknown = act(enterprise, repair["id"], "submit", **REPAIR_SUBMIT, training_certificate_no="PX-2026-999999-AAAAAA")
    assert unknown.status_code == 422
    assert "培训证明编号不存在" in unknown.get_json()["message"] and "no such certificate" in unknown.get_json()["message"]
    assert "training_certificate_no" in unknown.get_json()["details"]["fields"]
    foreign = act(enterprise, repair["id"], "submit", **REPAIR_SUBMIT, training_certificate_no=theirs["serial"])
    assert foreign.status_code == 422 and "another subject" in foreign.get_json()["message"]
    assert enterprise.get(f"/api/v1/cases/{repair['id']}").get_json()["state"] == "draft"

    submitted = acted(enterprise, repair["id"], "submit", **REPAIR_SUBMIT, training_certificate_no=ours["serial"])
    assert submitted["state"] == "submitted"
    assert submitted["details"]["training_certificate"]["serial"] == ours["serial"]
    assert submitted["details"]["training_certificate"]["valid_until"] == "2027-04-20"
    materials = {m["key"]: m["present"] for m in submitted["details"]["materials"]}
    assert materials["training_certificate"] is True and "training_certificate" not in submitted["details"]["missing"]
    submit_event = next(e for e in submitted["events"] if e["trigger"] == "submit")
    assert submit_event["payload"]["training_certificate"]["serial"] == ours["serial"]
    # The window's precheck now only waits for the uploads; the certificate is not asked for again.
    push = act(window, repair["id"], "push")
    assert push.status_code == 409
    reasons = " ".join(push.get_json()["details"]["reasons"])
    assert "信用报告" in reasons and "培训证明" not in reasons
    acted(window, repair["id"], "return_for_supplement", missing=["fulfilment_proof", "credit_report"],
          reason="请补充缴款凭证和信用报告")
    upload(enterprise, repair["id"], "fulfilment_proof")
    upload(enterprise, repair["id"], "credit_report")
    acted(enterprise, repair["id"], "resubmit")  # the linked certificate still counts
    assert acted(window, repair["id"], "push")["state"] == "pushed"
    # The repair's page shows the certificate beside the application.
    browser_page = enterprise.client.get(f"/cases/{repair['id']}", headers={"Authorization": f"Bearer {enterprise.token}"})
    assert 'data-testid="repair-training-certificate"' in browser_page.get_data(as_text=True)
    assert ours["serial"] in browser_page.get_data(as_text=True)


@pytest.mark.parametrize("app_config", [REQUIRE_SHORT], indirect=True)
def test_an_expired_certificate_is_refused_naming_its_validity(app, demo, api, clock):
    enterprise = api.as_user("enterprise")
    record_id = serious_record(api)
    ours = certified(api, clock, subject_id=1)
    assert ours["valid_until"] == "2026-05-20"  # 1 month under this configuration
    clock.set(at(2026, 5, 21))
    repair = repair_case(api, record_id)
    expired = act(enterprise, repair["id"], "submit", **REPAIR_SUBMIT, training_certificate_no=ours["serial"])
    body = expired.get_json()
    assert expired.status_code == 422
    assert "培训证明已过期（有效期至 2026-05-20）" in body["message"] and "valid until 2026-05-20" in body["message"]
    assert enterprise.get(f"/api/v1/cases/{repair['id']}").get_json()["state"] == "draft"


@pytest.mark.parametrize("app_config", [REQUIRE], indirect=True)
def test_the_requirement_concerns_serious_records_only(app, demo, api):
    repair = repair_case(api, 1)  # the S1 record: 一般
    submitted = acted(api.as_user("enterprise"), repair["id"], "submit", **REPAIR_SUBMIT)
    assert submitted["state"] == "submitted" and submitted["details"]["training_certificate"] is None


def test_without_the_requirement_a_serious_repair_needs_no_certificate(app, demo, api):
    repair = repair_case(api, serious_record(api))
    submitted = acted(api.as_user("enterprise"), repair["id"], "submit", **REPAIR_SUBMIT)
    assert submitted["state"] == "submitted"
    assert "training_certificate" not in {m["key"] for m in submitted["details"]["materials"]}
