"""How a listing ends and how a record is withdrawn, through the API as the real roles.

Early removal runs through a linked credit_repair case (DOMAIN.md §5.5, T7/T8): the repair may be
filed from one year after the decision (S14: 2027-05-21), the listing shows "repair applied for"
while it is reviewed, an approval removes it early, a refusal leaves it listed. A listing that rests
on records goes when they are revoked — by an upheld objection or by the provider's withdrawal after
the decision behind the record was revoked (T10, 3 WD from the revocation) — and only when every
record it rests on is gone.
"""
from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path

from workflows.clock import BEIJING

REPO = Path(__file__).resolve().parents[2]
LISTING = {"case_type": "blacklist", "subject_id": 1,
           "data": {"criteria_key": "unfair_competition", "facts": "串通投标，严重破坏市场公平竞争秩序",
                    "act_ended_on": "2026-03-02"}}
REPAIR_SUBMIT = {"statement": "已依法履行全部义务，申请提前移出名单", "signer_name": "李某", "commitment_accepted": True}


def at(y, m, d, h=9):
    return datetime(y, m, d, h, tzinfo=BEIJING)


def act(client, case_id, trigger, **data):
    return client.post(f"/api/v1/cases/{case_id}/actions/{trigger}", json={"data": data})


def acted(client, case_id, trigger, **data) -> dict:
    response = act(client, case_id, trigger, **data)
    assert response.status_code == 200, (trigger, response.get_json())
    return response.get_json()


def case_of(client, case_id) -> dict:
    response = client.get(f"/api/v1/cases/{case_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def records_of(client, subject_id=1) -> dict[int, dict]:
    return {r["id"]: r for r in client.get(f"/api/v1/subjects/{subject_id}/records").get_json()["records"]}


def open_deadlines(case: dict, kind: str) -> list[str]:
    return [d["due"] for d in case["deadlines"] if d["kind"] == kind and d["status"] == "open"]


def listed_company(api, clock, basis_record_ids=()) -> int:
    """S14: notice served 2026-05-06, statement 05-11, decided 05-20, published 05-28."""
    clock.set(at(2026, 5, 6))
    reviewer, head, window, enterprise = (api.as_user(u) for u in ("reviewer", "head", "window", "enterprise"))
    body = json.loads(json.dumps(LISTING))
    if basis_record_ids:
        body["data"]["basis_record_ids"] = list(basis_record_ids)
    created = reviewer.post("/api/v1/cases", json=body)
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["id"]
    acted(head, case_id, "approve_proposal", note="同意")
    clock.set(at(2026, 5, 11))
    acted(enterprise, case_id, "file_statement", statement="我司对事实有异议")
    clock.set(at(2026, 5, 20))
    acted(head, case_id, "decide_list", answer="经核实异议不成立，决定列入")
    clock.set(at(2026, 5, 28))
    listed = acted(window, case_id, "publish", repair_notice_served=True)
    assert listed["state"] == "listed"
    return case_id


def load_2027(api) -> None:
    text = (REPO / "workflows/data/holidays-2027.example.json").read_text(encoding="utf-8")
    loaded = api.as_user("admin").post("/api/v1/admin/calendar", data=text, content_type="application/json")
    assert loaded.status_code == 201, loaded.get_json()


def file_repair(api, record_id) -> tuple[object, int]:
    enterprise = api.as_user("enterprise")
    created = enterprise.post("/api/v1/cases", json={"case_type": "credit_repair", "subject_id": 1,
                                                     "data": {"record_id": record_id}})
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["id"]
    for key in ("fulfilment_proof", "credit_report"):
        uploaded = enterprise.post(f"/api/v1/cases/{case_id}/attachments",
                                   data={"material_key": key, "file": (io.BytesIO(b"%PDF-1.4 x"), f"{key}.pdf")})
        assert uploaded.status_code == 201, uploaded.get_json()
    return enterprise, case_id


def repair_pending_listing(api, clock) -> tuple[int, int, int]:
    """A listed company applies for repair on the first day it may (S14: 2027-05-21)."""
    listing_id = listed_company(api, clock)
    load_2027(api)
    details = case_of(api.as_user("enterprise"), listing_id)["details"]
    record_id = details["listing_record_id"]
    assert (details["repair_record_id"], details["early_removal_from"]) == (record_id, "2027-05-21")
    clock.set(at(2027, 5, 20))
    enterprise, repair_id = file_repair(api, record_id)
    early = act(enterprise, repair_id, "submit", **REPAIR_SUBMIT)
    assert early.status_code == 409
    assert "2027-05-21" in json.dumps(early.get_json(), ensure_ascii=False)
    assert case_of(enterprise, listing_id)["state"] == "listed"

    clock.set(at(2027, 5, 21))
    acted(enterprise, repair_id, "submit", **REPAIR_SUBMIT)
    listing = case_of(enterprise, listing_id)
    assert listing["state"] == "repair_pending"
    assert listing["details"]["repair_record_id"] is None  # one repair at a time
    assert [(link["id"], link["direction"]) for link in listing["links"]] == [(repair_id, "to")]
    assert listing_id in [link["id"] for link in case_of(enterprise, repair_id)["links"]]
    window, reviewer = api.as_user("window"), api.as_user("reviewer")
    acted(window, repair_id, "push")
    acted(reviewer, repair_id, "accept")
    return listing_id, repair_id, record_id


def test_early_removal_through_an_approved_repair(api, demo, clock):
    listing_id, repair_id, record_id = repair_pending_listing(api, clock)
    head, window, enterprise = api.as_user("head"), api.as_user("window"), api.as_user("enterprise")
    clock.set(at(2027, 5, 24))
    approved = acted(api.as_user("reviewer"), repair_id, "approve", note="条件符合，准予修复")
    assert approved["state"] == "syncing"

    listing = case_of(head, listing_id)
    assert listing["state"] == "removed_early"
    assert listing["details"]["exit_kind"] == "removed_early"
    assert open_deadlines(listing, "sync") == ["2027-05-27"]  # 3 WD from Monday 2027-05-24
    assert open_deadlines(listing, "expiry") == []
    steps = [(e["trigger"], e["to"], e["actor_role"]) for e in listing["events"]][-2:]
    assert steps == [("apply_repair", "repair_pending", "system"), ("remove_early", "removed_early", "system")]
    assert records_of(enterprise)[record_id]["status"] == "repaired"
    assert records_of(enterprise)[record_id]["active"] is False

    closed = acted(window, listing_id, "confirm_sync", note="信用中国、信用山东已停止公示")
    assert closed["state"] == "closed" and closed["terminal"] is True
    assert open_deadlines(closed, "sync") == []


def test_a_refused_repair_leaves_the_listing_in_force(api, demo, clock):
    listing_id, repair_id, record_id = repair_pending_listing(api, clock)
    clock.set(at(2027, 5, 24))
    refused = acted(api.as_user("reviewer"), repair_id, "reject", reason="未完全履行法定义务")
    assert refused["state"] == "rejected"
    listing = case_of(api.as_user("head"), listing_id)
    assert listing["state"] == "listed" and listing["details"]["exit_kind"] is None
    assert open_deadlines(listing, "expiry") == ["2029-05-20"]
    assert records_of(api.as_user("enterprise"))[record_id]["status"] == "active"


def test_a_listing_ends_only_when_every_record_it_rests_on_is_revoked(api, demo, clock):
    listing_id = listed_company(api, clock, basis_record_ids=(1, 2))
    head, enterprise, window = api.as_user("head"), api.as_user("enterprise"), api.as_user("window")
    assert [r["id"] for r in case_of(head, listing_id)["details"]["basis_records"]] == [1, 2]

    # Record 1 (law enforcement) goes through an upheld objection: record 2 still carries the listing.
    clock.set(at(2026, 6, 1))
    objection = enterprise.post("/api/v1/cases", json={"case_type": "objection", "subject_id": 1,
                                                       "data": {"record_id": 1, "grounds": "inaccurate"}})
    assert objection.status_code == 201, objection.get_json()
    objection_id = objection.get_json()["id"]
    acted(enterprise, objection_id, "submit", statement="处罚决定已被复议撤销")
    acted(window, objection_id, "accept")
    acted(window, objection_id, "review_in_house")
    acted(window, objection_id, "uphold", correction="delete", reason="处罚决定已被复议撤销")
    assert records_of(enterprise)[1]["status"] == "revoked"
    assert case_of(head, listing_id)["state"] == "listed"

    # Record 2 (market) is withdrawn by its provider after the decision behind it was revoked.
    market = api.as_user("market")
    withdrawal = market.post("/api/v1/cases", json={
        "case_type": "record_withdrawal", "subject_id": 1,
        "data": {"record_id": 2, "change": "revoke", "revoked_on": "2026-05-29",
                 "document_no": "威市监撤字〔2026〕3号", "reason": "行政复议决定撤销原处罚决定"}})
    assert withdrawal.status_code == 201, withdrawal.get_json()
    withdrawal_id = withdrawal.get_json()["id"]
    assert open_deadlines(withdrawal.get_json(), "withdraw") == ["2026-06-03"]
    done = acted(market, withdrawal_id, "carry_out", note="已撤回并报送平台")
    assert done["state"] == "done"
    assert records_of(enterprise)[2]["status"] == "revoked"

    listing = case_of(head, listing_id)
    assert listing["state"] == "revoked_removed"
    assert listing["events"][-1]["trigger"] == "basis_withdrawn"
    assert listing["events"][-1]["actor_role"] == "system"
    assert open_deadlines(listing, "sync") == ["2026-06-04"]  # 3 WD from Monday 2026-06-01


def test_an_upheld_objection_to_the_listing_record_removes_the_listing(api, demo, clock):
    listing_id = listed_company(api, clock)
    head, enterprise, window = api.as_user("head"), api.as_user("enterprise"), api.as_user("window")
    record_id = case_of(head, listing_id)["details"]["listing_record_id"]
    clock.set(at(2026, 6, 2))
    objection = enterprise.post("/api/v1/cases", json={"case_type": "objection", "subject_id": 1,
                                                       "data": {"record_id": record_id, "grounds": "inaccurate"}})
    assert objection.status_code == 201, objection.get_json()
    objection_id = objection.get_json()["id"]
    acted(enterprise, objection_id, "submit", statement="列入所依据的事实认定错误")
    acted(window, objection_id, "accept")
    assert records_of(enterprise)[record_id]["under_objection"] is True
    acted(window, objection_id, "review_in_house")
    acted(window, objection_id, "uphold", correction="delete", reason="经复核，列入所依据的事实不成立")
    listing = case_of(head, listing_id)
    assert listing["state"] == "revoked_removed"
    assert records_of(enterprise)[record_id]["status"] == "revoked"
    assert records_of(enterprise)[record_id]["under_objection"] is False


def withdraw(client, record_id=1, revoked_on="2026-04-10", **extra):
    return client.post("/api/v1/cases", json={
        "case_type": "record_withdrawal", "subject_id": 1,
        "data": {"record_id": record_id, "change": "revoke", "revoked_on": revoked_on,
                 "document_no": "文登执法撤字〔2026〕1号", "reason": "行政复议决定撤销原处罚决定", **extra}})


def test_withdrawal_is_due_3_wd_after_the_revocation(api, demo, clock):
    clock.set(at(2026, 4, 13))
    reviewer = api.as_user("reviewer")
    opened = withdraw(reviewer, revoked_on="2026-04-10")  # Friday → Wednesday 2026-04-15
    assert opened.status_code == 201, opened.get_json()
    case = opened.get_json()
    assert case["reference"].startswith("CH-2026-")
    assert open_deadlines(case, "withdraw") == ["2026-04-15"]
    assert acted(reviewer, case["id"], "cancel", reason="报告有误")["state"] == "cancelled"

    late = withdraw(reviewer, revoked_on="2026-04-01")  # Wednesday; 清明 4–6 April → Tuesday 04-07
    assert late.status_code == 201, late.get_json()
    assert open_deadlines(late.get_json(), "withdraw") == ["2026-04-07"]
    done = acted(reviewer, late.get_json()["id"], "carry_out", note="已撤回")
    assert done["events"][-1]["payload"]["late_by_days"] == 6


def test_withdrawal_upholds_an_open_objection_by_the_fast_path(api, demo, clock):
    clock.set(at(2026, 4, 13))
    enterprise, window, reviewer = api.as_user("enterprise"), api.as_user("window"), api.as_user("reviewer")
    objection = enterprise.post("/api/v1/cases", json={"case_type": "objection", "subject_id": 1,
                                                       "data": {"record_id": 1, "grounds": "inaccurate"}})
    objection_id = objection.get_json()["id"]
    acted(enterprise, objection_id, "submit", statement="处罚决定已被复议撤销")
    acted(window, objection_id, "accept")
    assert records_of(enterprise)[1]["under_objection"] is True

    withdrawal_id = withdraw(reviewer).get_json()["id"]
    acted(reviewer, withdrawal_id, "carry_out", note="已撤回并报送平台")
    decided = case_of(enterprise, objection_id)
    assert decided["state"] == "decided_upheld"
    last = decided["events"][-1]
    assert (last["trigger"], last["actor_role"]) == ("document_revoked", "system")
    assert last["payload"]["fast_path"] is True
    shown = records_of(enterprise)[1]
    assert shown["status"] == "revoked" and shown["under_objection"] is False
    assert acted(window, objection_id, "notify")["state"] == "notified"


def test_withdrawal_refusals(api, demo, clock):
    clock.set(at(2026, 4, 13))
    market = api.as_user("market")
    assert withdraw(market).status_code == 403  # record 1 belongs to law enforcement
    future = withdraw(api.as_user("reviewer"), revoked_on="2026-04-14")
    assert future.status_code == 422 and "revoked_on" in json.dumps(future.get_json())
    reviewer = api.as_user("reviewer")
    assert withdraw(reviewer).status_code == 201
    duplicate = withdraw(reviewer)
    assert duplicate.status_code == 409 and "CH-2026-" in json.dumps(duplicate.get_json(), ensure_ascii=False)
    assert withdraw(api.as_user("enterprise")).status_code == 403


def test_a_listing_record_is_withdrawn_in_its_listing_case_not_here(api, demo, clock):
    listing_id = listed_company(api, clock)
    head = api.as_user("head")
    record_id = case_of(head, listing_id)["details"]["listing_record_id"]
    refused = withdraw(head, record_id=record_id, revoked_on="2026-05-28")
    assert refused.status_code == 422
    assert case_of(head, listing_id)["reference"] in json.dumps(refused.get_json(), ensure_ascii=False)


def test_the_listing_page_offers_the_party_the_repair_from_the_right_day(app, api, demo, clock):
    from page_client import Browser

    listing_id = listed_company(api, clock)
    record_id = case_of(api.as_user("head"), listing_id)["details"]["listing_record_id"]
    party, head = Browser(app), Browser(app)
    party.login("enterprise")
    head.login("head")
    page = party.get(f"/cases/{listing_id}").get_data(as_text=True)
    assert 'data-testid="early-removal-from">2027-05-21' in page
    assert f'/portal/records/{record_id}/repair' in page and 'data-testid="apply-repair-link"' in page
    staff_page = head.get(f"/cases/{listing_id}").get_data(as_text=True)
    assert 'data-testid="early-removal-from">2027-05-21' in staff_page
    assert 'data-testid="apply-repair-link"' not in staff_page


def test_the_legal_representative_is_marked_on_the_personal_record_until_the_listing_ends(app, api, demo, clock):
    from models import Subject, db
    from webapp.views.common import commit

    with app.app_context():  # the company's legal representative is the demo person 张某 (subject 3)
        db.session.get(Subject, 1).legal_rep_subject_id = 3
        commit()
    listing_id = listed_company(api, clock)
    record_id = case_of(api.as_user("head"), listing_id)["details"]["listing_record_id"]
    person = api.as_user("person")
    marks = [r for r in records_of(person, 3).values() if f"#{record_id}" in r.get("description", "")
             or "联奖联罚" in r["title"]]
    assert len(marks) == 1 and marks[0]["status"] == "active" and "列入严重失信主体名单" in marks[0]["title"]
    last = case_of(api.as_user("head"), listing_id)["events"][-1]
    assert last["payload"]["legal_representative_record_id"] == marks[0]["id"]

    clock.set(at(2026, 6, 1))
    acted(api.as_user("head"), listing_id, "revoke", reason="原行政处罚决定经复议撤销", document_no="文复决〔2026〕1号")
    assert records_of(person, 3)[marks[0]["id"]]["status"] == "revoked"
