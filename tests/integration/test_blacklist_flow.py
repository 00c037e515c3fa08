"""The blacklist case type through the API and the sweep: DOMAIN.md §10 S14 dates, four eyes (403),
a late statement (409 naming the closing day), the automatic listing when nobody speaks and the
automatic removal on the right day when nobody acts."""
from __future__ import annotations

from datetime import datetime

from models import Case, CreditRecord, ListingCase, RecordStatus, db
from webapp.views.common import commit
from workflows.clock import BEIJING
from workflows.sweep import sweep

OPEN = {"case_type": "blacklist", "subject_id": 1,
        "data": {"criteria_key": "unfair_competition", "facts": "串通投标，严重破坏市场公平竞争秩序",
                 "act_ended_on": "2026-03-02"}}


def at(y, m, d, h=9):
    return datetime(y, m, d, h, tzinfo=BEIJING)


def due(payload, kind):
    return [d for d in payload["deadlines"] if d["kind"] == kind]


def act(client, case_id, trigger, data=None):
    return client.post(f"/api/v1/cases/{case_id}/actions/{trigger}", json={"data": data or {}})


def open_and_serve(api, clock):
    """S14: the 告知书 is served on Wednesday 2026-05-06."""
    clock.set(at(2026, 5, 6))
    reviewer, head = api.as_user("reviewer"), api.as_user("head")
    created = reviewer.post("/api/v1/cases", json=OPEN)
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["id"]
    served = act(head, case_id, "approve_proposal", {"note": "同意"})
    assert served.status_code == 200, served.get_json()
    return case_id


def test_s14_dates_through_the_api(app, demo, api, clock):
    case_id = open_and_serve(api, clock)
    head, window, enterprise = api.as_user("head"), api.as_user("window"), api.as_user("enterprise")
    case = head.get(f"/api/v1/cases/{case_id}").get_json()
    assert case["reference"].startswith("HM-2026-") and case["state"] == "statement_period"
    [period] = due(case, "statement")
    assert (period["due"], period["start"], period["status"]) == ("2026-05-12", "2026-05-06", "open")

    clock.set(at(2026, 5, 11))
    assert act(enterprise, case_id, "file_statement", {"statement": "我司对事实有异议"}).status_code == 200
    clock.set(at(2026, 5, 20))  # S14 decision
    decided = act(head, case_id, "decide_list", {"answer": "经核实异议不成立，决定列入"})
    assert decided.status_code == 200, decided.get_json()
    payload = decided.get_json()
    assert payload["state"] == "decided_list"
    publish = [d for d in due(payload, "publish") if d["status"] == "open"]
    expiry = [d for d in due(payload, "expiry") if d["status"] == "open"]
    assert [d["due"] for d in publish] == ["2026-05-29"]
    assert [d["due"] for d in expiry] == ["2029-05-20"]

    clock.set(at(2026, 5, 28))
    listed = act(window, case_id, "publish", {"repair_notice_served": True})
    assert listed.status_code == 200, listed.get_json()
    details = listed.get_json()["details"]
    assert listed.get_json()["state"] == "listed"
    assert details["early_removal_from"] == "2027-05-21" and details["expires_after"] == "2029-05-20"
    assert details["legal_rep_marked"] == "李某"


def test_the_proposer_approving_is_403(app, demo, api, clock):
    reviewer = api.as_user("reviewer")
    case_id = reviewer.post("/api/v1/cases", json=OPEN).get_json()["id"]
    response = act(reviewer, case_id, "approve_proposal", {})
    assert response.status_code == 403
    body = response.get_json()
    assert body["error"] and "four eyes" in body["message"]
    assert reviewer.get(f"/api/v1/cases/{case_id}").get_json()["state"] == "candidate"


def test_an_applicant_cannot_open_a_listing(app, demo, api):
    assert api.as_user("enterprise").post("/api/v1/cases", json=OPEN).status_code == 403


def test_a_late_statement_is_409_naming_when_the_period_closed(app, demo, api, clock, runtime):
    case_id = open_and_serve(api, clock)
    clock.set(at(2026, 5, 13))  # the first working day after the last day: the sweep lists
    with app.app_context():
        assert sweep(db.session, runtime, commit=commit).fired == 1
    enterprise = api.as_user("enterprise")
    case = enterprise.get(f"/api/v1/cases/{case_id}").get_json()
    assert case["state"] == "decided_list"
    assert [e["trigger"] for e in case["events"]][-1] == "close_statement_period"
    response = act(enterprise, case_id, "file_statement", {"statement": "迟到的申辩"})
    assert response.status_code == 409
    assert any("2026-05-12" in r for r in response.get_json()["details"]["reasons"])
    with app.app_context():
        assert db.session.get(ListingCase, case_id).decided_on.isoformat() == "2026-05-13"


def test_a_listing_expires_by_itself_on_the_right_day(app, demo, api, clock, runtime):
    case_id = open_and_serve(api, clock)
    enterprise, head, window = api.as_user("enterprise"), api.as_user("head"), api.as_user("window")
    act(enterprise, case_id, "file_statement", {"statement": "我司对事实有异议"})
    clock.set(at(2026, 5, 20))
    act(head, case_id, "decide_list", {"answer": "经核实异议不成立，决定列入"})
    clock.set(at(2026, 5, 25))
    assert act(window, case_id, "publish", {"repair_notice_served": True}).status_code == 200

    clock.set(at(2029, 5, 20, 23))  # the last day: still listed
    with app.app_context():
        sweep(db.session, runtime, commit=commit)
        assert db.session.get(Case, case_id).state == "listed"

    clock.set(at(2029, 5, 21, 0))  # inactive from 2029-05-21 (24:00 of the last day, C10)
    with app.app_context():
        assert sweep(db.session, runtime, commit=commit).fired == 1
    with app.app_context():
        _check_expired(case_id)


def _check_expired(case_id):
    case = db.session.get(Case, case_id)
    row = db.session.get(ListingCase, case_id)
    assert case.state == "expired_removed" and row.exit_kind == "expired_removed"
    assert row.exited_on.isoformat() == "2029-05-21"
    assert db.session.get(CreditRecord, row.listing_record_id).status == RecordStatus.REVOKED
    assert case.events[-1].trigger == "expire" and case.events[-1].actor_role == "system"
