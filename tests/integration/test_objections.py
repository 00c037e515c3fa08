"""Objections (异议) through the API, as the real roles: the applicant objects to its own record,
the window accepts (the record shows 异议处理中) and routes it to the provider, the provider's
reviewers decide (one wins a race, the other gets 409), the label goes and the score follows."""
from __future__ import annotations

from datetime import datetime

from workflows.clock import BEIJING


def open_objection(client, record_id: int = 1, subject_id: int = 1, **data):
    return client.post("/api/v1/cases", json={"case_type": "objection", "subject_id": subject_id,
                                             "data": {"record_id": record_id, "grounds": "inaccurate", **data}})


def act(client, case_id: int, trigger: str, expected_version: int | None = None, **data):
    body = {"data": data}
    if expected_version is not None:
        body["expected_version"] = expected_version
    return client.post(f"/api/v1/cases/{case_id}/actions/{trigger}", json=body)


def record(client, record_id: int = 1, subject_id: int = 1) -> dict:
    records = client.get(f"/api/v1/subjects/{subject_id}/records").get_json()["records"]
    return next(r for r in records if r["id"] == record_id)


def deadline(case: dict, kind: str) -> dict:
    return next(d for d in case["deadlines"] if d["kind"] == kind and d["status"] in ("open", "suspended"))


def filed(api) -> tuple[object, int]:
    enterprise = api.as_user("enterprise")
    opened = open_objection(enterprise, statement="处罚决定已被复议撤销")
    assert opened.status_code == 201, opened.get_json()
    case_id = opened.get_json()["id"]
    assert act(enterprise, case_id, "submit", statement="处罚决定已被复议撤销").status_code == 200
    return enterprise, case_id


def test_s7_deadlines_through_the_api(api, demo, clock):
    clock.set(datetime(2026, 1, 30, 10, tzinfo=BEIJING))  # DOMAIN §10 S7: Friday 2026-01-30
    enterprise, case_id = filed(api)
    window = api.as_user("window")
    case = window.get(f"/api/v1/cases/{case_id}").get_json()
    assert case["reference"].startswith("YY-")
    assert deadline(case, "decision")["due"] == "2026-02-04"  # 3 WD in scope
    assert act(window, case_id, "accept").status_code == 200
    routed = act(window, case_id, "route_to_provider", letter="请核查该处罚记录")
    assert routed.status_code == 200, routed.get_json()
    case = enterprise.get(f"/api/v1/cases/{case_id}").get_json()
    assert deadline(case, "decision")["due"] == "2026-02-10"  # 7 WD with the provider
    assert deadline(case, "decision")["extensions"][0]["reason"].startswith("需提供单位协查")
    assert deadline(case, "provider_reply")["due"] == "2026-02-05"


def test_label_shown_from_acceptance_until_decision_and_upheld_deletion_restores_the_score(api, demo):
    enterprise, case_id = filed(api)
    window, reviewer = api.as_user("window"), api.as_user("reviewer")
    assert record(enterprise)["under_objection"] is False
    score_before = enterprise.get("/api/v1/subjects/1/score").get_json()["score"]
    assert act(window, case_id, "accept").status_code == 200
    assert record(enterprise)["under_objection"] is True
    assert act(window, case_id, "route_to_provider", letter="请核查").status_code == 200
    decided = act(reviewer, case_id, "uphold", correction="delete", reason="处罚决定已被复议撤销")
    assert decided.status_code == 200, decided.get_json()
    assert decided.get_json()["state"] == "decided_upheld"
    shown = record(enterprise)
    assert shown["under_objection"] is False and shown["status"] == "revoked"
    score_after = enterprise.get("/api/v1/subjects/1/score").get_json()["score"]
    assert score_after == score_before + 20  # record 1's −20 no longer counts
    assert act(window, case_id, "notify").status_code == 200
    closed = act(window, case_id, "close")
    assert closed.get_json()["state"] == "closed"


def test_rejection_needs_reasons_and_keeps_the_record(api, demo):
    enterprise, case_id = filed(api)
    window = api.as_user("window")
    act(window, case_id, "accept")
    act(window, case_id, "review_in_house")
    assert act(window, case_id, "reject").status_code == 422
    assert act(window, case_id, "reject", reason="处罚决定合法有效").status_code == 200
    shown = record(enterprise)
    assert shown["under_objection"] is False and shown["status"] == "active" and shown["points"] == -20


def test_two_reviewers_deciding_at_once_one_wins_the_other_409(api, demo):
    _, case_id = filed(api)
    window = api.as_user("window")
    act(window, case_id, "accept")
    act(window, case_id, "route_to_provider", letter="请核查")
    reviewer, head = api.as_user("reviewer"), api.as_user("head")
    version = reviewer.get(f"/api/v1/cases/{case_id}").get_json()["version"]
    assert head.get(f"/api/v1/cases/{case_id}").get_json()["version"] == version
    first = act(reviewer, case_id, "reject", expected_version=version, reason="处罚决定合法有效")
    assert first.status_code == 200, first.get_json()
    second = act(head, case_id, "uphold", expected_version=version, correction="delete", reason="应删除")
    assert second.status_code == 409
    assert act(head, case_id, "reject", expected_version=version, reason="重复").status_code == 409
    assert record(api.as_user("enterprise"))["status"] == "active"


def test_stale_version_alone_is_409(api, demo):
    _, case_id = filed(api)
    window = api.as_user("window")
    version = window.get(f"/api/v1/cases/{case_id}").get_json()["version"]
    response = act(window, case_id, "accept", expected_version=version - 1)
    assert response.status_code == 409


def test_objecting_to_another_subjects_record_is_404(api, demo):
    enterprise = api.as_user("enterprise")
    assert open_objection(enterprise, record_id=4).status_code == 404  # the person's record
    person = api.as_user("person")
    assert open_objection(person, record_id=1, subject_id=3).status_code == 404


def test_other_department_cannot_decide(api, demo):
    _, case_id = filed(api)
    window = api.as_user("window")
    act(window, case_id, "accept")
    act(window, case_id, "route_to_provider", letter="请核查")
    assert act(api.as_user("market"), case_id, "reject", reason="不成立").status_code in (403, 404)
    assert act(window, case_id, "reject", reason="不成立").status_code == 403


# --- the portal -----------------------------------------------------------------------------------

def _browser(app, username: str):
    from page_client import Browser

    browser = Browser(app)
    assert browser.login(username).status_code == 302
    return browser


def test_portal_links_to_the_objection_page_and_shows_the_label(app, api, demo):
    browser = _browser(app, "enterprise")
    page = browser.get("/portal").get_data(as_text=True)
    assert 'data-testid="object-1"' in page and "/portal/records/1/objection" in page
    form = browser.get("/portal/records/1/objection")
    assert form.status_code == 200 and 'data-testid="objection-form"' in form.get_data(as_text=True)
    filed_page = browser.post_form("/portal/records/1/objection", "/portal/records/1/objection",
                                   {"grounds": "inaccurate", "statement": "处罚决定已被复议撤销"})
    assert filed_page.status_code == 302, filed_page.get_data(as_text=True)[:2000]
    cases = api.as_user("window").get("/api/v1/cases?case_type=objection").get_json()["cases"]
    assert cases[0]["state"] == "submitted"
    assert act(api.as_user("window"), cases[0]["id"], "accept").status_code == 200
    page = browser.get("/portal").get_data(as_text=True)
    assert 'data-testid="under-objection-1"' in page and "异议处理中" in page


def test_objection_page_refuses_another_subjects_record(app, demo):
    browser = _browser(app, "enterprise")
    assert browser.get("/portal/records/4/objection").status_code == 404
    bad = browser.post_form("/portal/records/1/objection", "/portal/records/1/objection", {"grounds": "nonsense"})
    assert bad.status_code == 422


def test_case_page_renders_for_staff_and_applicant(app, api, demo):
    _, case_id = filed(api)
    for username in ("window", "enterprise", "reviewer"):
        page = _browser(app, username).get(f"/cases/{case_id}")
        assert page.status_code == 200, username
        assert "YY-" in page.get_data(as_text=True)
