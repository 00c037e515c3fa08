"""The REST API as its clients use it: tokens, calendar (DOMAIN.md §10 S1, S2, S5), subjects,
records, scores, cases and actions, errors, the OpenAPI document, the admin clock and sweep."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from forms.fields import uscc_check_char

SUBMIT = {"statement": "罚款已缴纳，违法建设已拆除", "signer_name": "李某", "commitment_accepted": True}
REPO = Path(__file__).resolve().parents[2]


def deadline(api, start, amount, unit, **extra):
    query = "&".join(f"{k}={v}" for k, v in {"start": start, "amount": amount, "unit": unit, **extra}.items())
    return api.get(f"/api/v1/calendar/deadline?{query}")


@pytest.mark.parametrize("start,amount,unit,due", [
    ("2026-01-12", 7, "wd", "2026-01-21"),    # S1: 双公示 7 WD
    ("2026-01-12", 3, "month", "2026-04-13"),  # S2: 3 M ends Sun 04-12; a party deadline rolls to Mon 04-13
    ("2026-04-13", 3, "wd", "2026-04-16"),    # S2: department acceptance
    ("2026-04-13", 10, "wd", "2026-04-27"),   # S2: result
    ("2026-04-27", 3, "wd", "2026-04-30"),    # S2: local sync
    ("2026-02-10", 10, "wd", "2026-03-02"),   # S5: across Spring Festival with two make-up Saturdays
    ("2026-01-30", 3, "wd", "2026-02-04"),    # S7
    ("2026-03-05", 30, "cd", "2026-04-07"),   # S12: 30 CD window rolls over 清明
])
def test_calendar_deadline_matches_the_worked_scenarios(api, app, start, amount, unit, due):
    response = deadline(api, start, amount, unit)
    assert response.status_code == 200
    assert response.get_json() == {"start": start, "amount": amount, "unit": unit, "due": due}


def test_waiting_period_does_not_roll_over(api, app):
    assert deadline(api, "2026-01-12", 3, "month", rollover="false").get_json()["due"] == "2026-04-12"


def test_calendar_year_not_loaded_is_422_naming_the_year(api, app):
    response = deadline(api, "2027-03-01", 5, "wd")
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "calendar_year_not_loaded" and body["details"] == {"year": 2027}
    assert "2027" in body["message"]


def test_calendar_bad_query_is_422(api, app):
    response = deadline(api, "2026-13-01", 5, "fortnight")
    assert response.status_code == 422
    assert set(response.get_json()["details"]["fields"]) == {"start", "unit"}


def test_admin_loads_a_year_then_2027_computes(api, app, demo):
    admin = api.as_user("admin")
    text = (REPO / "workflows/data/holidays-2027.example.json").read_text(encoding="utf-8")
    assert admin.post("/api/v1/admin/calendar", data=text, content_type="application/json").status_code == 201
    assert deadline(api, "2027-03-01", 5, "wd").status_code == 200
    assert 2027 in api.get("/api/v1/calendar/years").get_json()["years"]
    assert api.as_user("reviewer").post("/api/v1/admin/calendar", data=text,
                                        content_type="application/json").status_code == 403


def test_token_required_and_wrong_password(api, app, demo):
    assert api.get("/api/v1/cases").status_code == 401
    bad = api.post("/api/v1/auth/token", json={"username": "enterprise", "password": "nope"})
    assert bad.status_code == 401 and bad.get_json()["error"] == "unauthorized"
    forged = api.get("/api/v1/cases", headers={"Authorization": "Bearer forged.token.value"})
    assert forged.status_code == 401


def test_case_types_describe_states_steps_and_timers(api, app):
    body = api.get("/api/v1/case-types").get_json()
    repair = next(ct for ct in body["case_types"] if ct["key"] == "credit_repair")
    assert repair["version"] == 1
    assert {"key": "returned_for_supplement", "label_zh": "补正中", "label_en": "Returned for supplement"} in repair["states"]
    approve = next(s for s in repair["steps"] if s["trigger"] == "approve")
    assert approve == {**approve, "source": ["under_review"], "target": "syncing", "permission": "case:decide"}
    timers = {t["kind"]: (t["budget"], t["unit"]) for t in repair["timers"]}
    assert timers["result"] == (10, "wd") and timers["acceptance"] == (3, "wd") and timers["sync"] == (3, "wd")


def test_openapi_document_lists_the_operations(api, app):
    spec = api.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/auth/token", "/api/v1/calendar/deadline", "/api/v1/cases/{case_id}/actions/{trigger}",
                 "/api/v1/subjects/{subject_id}/score", "/api/v1/admin/clock", "/api/v1/admin/sweep"):
        assert path in spec["paths"], path
    body = spec["paths"]["/api/v1/subjects"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body  # generated from the marshmallow schema


def _uscc(prefix17: str) -> str:
    return prefix17 + uscc_check_char(prefix17)


def test_subject_with_a_wrong_check_digit_is_422_naming_the_field(api, app, demo):
    admin = api.as_user("admin")
    good = _uscc("91371081MA3TEMP01")
    wrong = good[:-1] + ("0" if good[-1] != "0" else "1")
    response = admin.post("/api/v1/subjects", json={"kind": "legal_person", "name": "测试公司", "uscc": wrong})
    assert response.status_code == 422 and "uscc" in response.get_json()["details"]["fields"]
    response = admin.post("/api/v1/subjects", json={"kind": "natural_person", "name": "赵某", "id_number": "371081198503121210"})
    assert response.status_code == 422 and "id_number" in response.get_json()["details"]["fields"]
    created = admin.post("/api/v1/subjects", json={"kind": "legal_person", "name": "测试公司", "uscc": good})
    assert created.status_code == 201
    again = admin.post("/api/v1/subjects", json={"kind": "legal_person", "name": "测试公司", "uscc": good})
    assert again.status_code == 409


def test_records_and_score_at_a_date(api, app, demo):
    reviewer = api.as_user("reviewer")
    admin = api.as_user("admin")
    subject = admin.post("/api/v1/subjects", json={"kind": "legal_person", "name": "评分公司",
                                                   "uscc": _uscc("91371081MA3PQR001")}).get_json()
    created = reviewer.post(f"/api/v1/subjects/{subject['id']}/records", json={
        "title": "较重罚款", "severity": "general", "decided_on": "2026-03-02", "points": -20})
    assert created.status_code == 201 and created.get_json()["valid_until"] == "2027-03-02"
    bad = reviewer.post(f"/api/v1/subjects/{subject['id']}/records", json={"title": "x", "decided_on": "2026-03-02"})
    assert bad.status_code == 422 and "severity" in bad.get_json()["details"]["fields"]
    score = admin.get(f"/api/v1/subjects/{subject['id']}/score?at=2026-06-01").get_json()
    assert (score["score"], score["grade"]) == (980, "A")
    assert admin.get(f"/api/v1/subjects/{subject['id']}/score?at=2027-03-03").get_json()["score"] == 1000
    assert admin.get(f"/api/v1/subjects/{subject['id']}/score?at=2026-03-01").get_json()["score"] == 1000


def test_natural_persons_id_number_is_masked_for_staff(api, app, demo):
    shown = api.as_user("reviewer").get("/api/v1/subjects/3").get_json()
    assert shown["id_number"] == "3710**********1218"
    own = api.as_user("person").get("/api/v1/subjects/3").get_json()
    assert own["id_number"] == "371081198503121218"
    assert api.as_user("enterprise").get("/api/v1/subjects/3").status_code == 404


def _open_and_submit(api, as_user="enterprise", record_id=1, subject_id=1, with_proof=True):
    client = api.as_user(as_user)
    case = client.post("/api/v1/cases", json={"case_type": "credit_repair", "subject_id": subject_id,
                                              "data": {"record_id": record_id}})
    assert case.status_code == 201, case.get_json()
    case_id = case.get_json()["id"]
    if with_proof:
        up = client.post(f"/api/v1/cases/{case_id}/attachments",
                         data={"material_key": "fulfilment_proof", "file": (io.BytesIO(b"%PDF-1.4 x"), "r.pdf")})
        assert up.status_code == 201
    submitted = client.post(f"/api/v1/cases/{case_id}/actions/submit", json={"data": SUBMIT})
    return client, case_id, submitted


def test_whole_repair_journey_through_the_api(api, app, demo):
    enterprise, case_id, submitted = _open_and_submit(api)
    body = submitted.get_json()
    assert submitted.status_code == 200 and body["state"] == "submitted"
    assert body["details"]["regime"] == "ndrc36" and body["details"]["eligible_from"] == "2026-04-13"
    assert {(d["kind"], d["due"]) for d in body["deadlines"]} == {("result", "2026-04-27")}
    window, reviewer = api.as_user("window"), api.as_user("reviewer")
    pushed = window.post(f"/api/v1/cases/{case_id}/actions/push", json={"data": {}})
    assert pushed.get_json()["state"] == "pushed"
    assert ("acceptance", "2026-04-16") in {(d["kind"], d["due"]) for d in pushed.get_json()["deadlines"]}
    assert reviewer.post(f"/api/v1/cases/{case_id}/actions/accept", json={"data": {}}).get_json()["state"] == "under_review"
    approved = reviewer.post(f"/api/v1/cases/{case_id}/actions/approve", json={"data": {"note": "条件符合"}})
    assert approved.get_json()["state"] == "syncing"
    records = enterprise.get("/api/v1/subjects/1/records").get_json()["records"]
    repaired = next(r for r in records if r["id"] == 1)
    assert repaired["status"] == "repaired" and repaired["active"] is False
    assert enterprise.get("/api/v1/subjects/1/score?at=2026-04-13").get_json()["score"] == 1000
    synced = window.post(f"/api/v1/cases/{case_id}/actions/confirm_sync", json={"data": {}}).get_json()
    assert synced["state"] == "monitoring"
    events = [(e["trigger"], e["from"], e["to"], e["actor_role"]) for e in synced["events"]]
    assert events == [("open", None, "draft", "applicant"), ("submit", "draft", "submitted", "applicant"),
                      ("push", "submitted", "pushed", "reviewer"), ("accept", "pushed", "under_review", "reviewer"),
                      ("approve", "under_review", "syncing", "reviewer"), ("confirm_sync", "syncing", "monitoring", "reviewer")]
    assert all(len(e["hash"]) == 64 for e in synced["events"])
    assert synced["events"][1]["payload"]["materials"][0]["key"] == "fulfilment_proof"
    me = enterprise.get("/api/v1/me").get_json()
    assert any("准予信用修复" in m["title"] for m in me["inbox"])


def test_action_not_allowed_now_is_409_with_reasons(api, app, demo):
    enterprise, case_id, _ = _open_and_submit(api)
    response = api.as_user("reviewer").post(f"/api/v1/cases/{case_id}/actions/approve", json={"data": {}})
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "transition_not_allowed" and body["details"]["reasons"]


def test_early_application_is_409_with_the_date(api, app, demo):
    _client, _case_id, submitted = _open_and_submit(api, record_id=2)
    assert submitted.status_code == 409
    assert "2027-08-11" in json.dumps(submitted.get_json(), ensure_ascii=False)


def test_stale_expected_version_is_409(api, app, demo):
    _client, case_id, submitted = _open_and_submit(api)
    version = submitted.get_json()["version"]
    window = api.as_user("window")
    assert window.post(f"/api/v1/cases/{case_id}/actions/push",
                       json={"data": {}, "expected_version": version}).status_code == 200
    stale = api.as_user("reviewer").post(f"/api/v1/cases/{case_id}/actions/accept",
                                         json={"data": {}, "expected_version": version})
    assert stale.status_code == 409 and stale.get_json()["error"] == "stale_version"


def test_two_reviewers_deciding_at_once_one_wins(api, app, demo):
    _client, case_id, _ = _open_and_submit(api)
    api.as_user("window").post(f"/api/v1/cases/{case_id}/actions/push", json={"data": {}})
    reviewer, head = api.as_user("reviewer"), api.as_user("head")
    version = reviewer.post(f"/api/v1/cases/{case_id}/actions/accept", json={"data": {}}).get_json()["version"]
    first = reviewer.post(f"/api/v1/cases/{case_id}/actions/approve", json={"data": {}, "expected_version": version})
    second = head.post(f"/api/v1/cases/{case_id}/actions/reject",
                       json={"data": {"reason": "不符合条件"}, "expected_version": version})
    assert first.status_code == 200 and second.status_code == 409


def test_other_applicants_case_is_404_and_wrong_role_403(api, app, demo):
    _client, case_id, _ = _open_and_submit(api)
    assert api.as_user("person").get(f"/api/v1/cases/{case_id}").status_code == 404
    assert api.as_user("person").post(f"/api/v1/cases/{case_id}/actions/withdraw", json={"data": {}}).status_code == 404
    assert api.as_user("market").get(f"/api/v1/cases/{case_id}").status_code == 404
    forbidden = api.as_user("enterprise").post(f"/api/v1/cases/{case_id}/actions/push", json={"data": {}})
    assert forbidden.status_code == 403 and forbidden.get_json()["error"] == "forbidden"
    assert api.as_user("enterprise").post("/api/v1/cases", json={
        "case_type": "credit_repair", "subject_id": 3, "data": {"record_id": 4}}).status_code == 403
    # Another subject's records: refused and logged (授权查询, tests/integration/test_authorised_queries.py).
    assert api.as_user("enterprise").get("/api/v1/subjects/3/records").status_code == 403


def test_invalid_action_input_is_422(api, app, demo):
    _client, case_id, _ = _open_and_submit(api)
    response = api.as_user("window").post(f"/api/v1/cases/{case_id}/actions/return_for_supplement",
                                          json={"data": {"missing": []}})
    assert response.status_code == 422
    assert set(response.get_json()["details"]["fields"]) == {"missing", "reason"}
    assert api.as_user("window").post(f"/api/v1/cases/{case_id}/actions/fly", json={}).status_code == 404


def test_case_list_filters(api, app, demo):
    _open_and_submit(api)
    window = api.as_user("window")
    assert len(window.get("/api/v1/cases?case_type=credit_repair&state=submitted").get_json()["cases"]) == 1
    assert window.get("/api/v1/cases?state=pushed").get_json()["cases"] == []
    assert len(window.get("/api/v1/cases?department=law-enforcement&case_type=credit_repair").get_json()["cases"]) == 1
    # The submission opened its credit commitment, linked and decided by the same department.
    assert len(window.get("/api/v1/cases?department=law-enforcement&case_type=credit_commitment").get_json()["cases"]) == 1
    assert api.as_user("market").get("/api/v1/cases").get_json()["cases"] == []
    assert api.as_user("person").get("/api/v1/cases").get_json()["cases"] == []


@pytest.fixture
def small_uploads(app_config):
    app_config["RULE_OVERRIDES"] = {"uploads.max_bytes": 1000}
    return app_config


def test_uploads_are_checked_by_type_and_size(small_uploads, api, app, demo):
    client = api.as_user("enterprise")
    case_id = client.post("/api/v1/cases", json={"case_type": "credit_repair", "subject_id": 1,
                                                 "data": {"record_id": 1}}).get_json()["id"]
    too_big = client.post(f"/api/v1/cases/{case_id}/attachments", data={
        "material_key": "fulfilment_proof", "file": (io.BytesIO(b"%PDF-" + b"0" * 2000), "big.pdf")})
    assert too_big.status_code == 422 and too_big.get_json()["details"]["max_bytes"] == 1000
    text = client.post(f"/api/v1/cases/{case_id}/attachments", data={
        "material_key": "fulfilment_proof", "file": (io.BytesIO(b"just text"), "note.pdf")})
    assert text.status_code == 422 and "PDF" in text.get_json()["message"]
    unknown = client.post(f"/api/v1/cases/{case_id}/attachments", data={
        "material_key": "selfie", "file": (io.BytesIO(b"%PDF-1.4"), "x.pdf")})
    assert unknown.status_code == 422
    other = api.as_user("window").post(f"/api/v1/cases/{case_id}/attachments", data={
        "material_key": "fulfilment_proof", "file": (io.BytesIO(b"%PDF-1.4"), "x.pdf")})
    assert other.status_code == 403


def test_admin_clock_needs_an_adjustable_clock(api, app, demo):
    admin = api.as_user("admin")
    assert admin.put("/api/v1/admin/clock", json={"now": "2026-05-01"}).status_code == 403
    assert admin.post("/api/v1/admin/sweep").status_code == 403


@pytest.fixture
def adjustable(app_config):
    app_config.pop("CLOCK_OBJECT")
    app_config["CREDITDESK_CLOCK"] = "adjustable"
    return app_config


def test_adjustable_clock_and_sweep_fire_the_supplement_expiry(adjustable, api, app, demo):
    admin = api.as_user("admin")
    assert admin.put("/api/v1/admin/clock", json={"now": "2026-04-13T09:00:00+08:00"}).get_json()["today"] == "2026-04-13"
    assert api.as_user("reviewer").put("/api/v1/admin/clock", json={"now": "2026-04-14"}).status_code == 403
    _client, case_id, _ = _open_and_submit(api, with_proof=False)
    returned = api.as_user("window").post(f"/api/v1/cases/{case_id}/actions/return_for_supplement",
                                          json={"data": {"missing": ["fulfilment_proof"], "reason": "请补正"}})
    supplement = next(d for d in returned.get_json()["deadlines"] if d["kind"] == "supplement")
    assert supplement["due"] == "2026-05-13"  # 30 CD from 04-13
    admin.put("/api/v1/admin/clock", json={"now": "2026-05-13T20:00:00+08:00"})
    assert admin.post("/api/v1/admin/sweep").get_json()["fired"] == 0
    admin.put("/api/v1/admin/clock", json={"now": "2026-05-14T00:30:00+08:00"})
    assert admin.post("/api/v1/admin/sweep").get_json()["fired"] == 1
    assert admin.post("/api/v1/admin/sweep").get_json()["fired"] == 0  # idempotent
    case = api.as_user("enterprise").get(f"/api/v1/cases/{case_id}").get_json()
    assert case["state"] == "withdrawn" and case["events"][-1]["actor_role"] == "system"
