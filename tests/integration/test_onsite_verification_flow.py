"""On-site verification (现场核查) of a commitment through the API and the inspectors' phone pages, as
the real roles: the window orders a check of a commitment in fulfilment and assigns two inspectors,
they schedule the visit, photograph the site (a real PNG/JPEG; anything else refused), record the
subject's signature, countersign and report — and the report moves the commitment in the same
transaction (nonconforming → suspected breach with the finding in its ledger; conforming →
fulfilled). An inspector not assigned cannot act; an applicant sees the result, not the internal
note, and cannot open the inspection pages."""
from __future__ import annotations

import io
from datetime import datetime

from page_client import Browser, csrf_token_from

from models import Case, OutboxMessage, Role, User, db
from webapp.views.common import commit
from workflows.clock import BEIJING

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\nIDATx\x9cc\x00\x01\x00\x00\x05\x00\x01\r\n-\xb4\x00\x00\x00\x00IEND\xaeB`\x82")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
MATTER = "依法诚信经营，不销售不合格建材"
FINDING = "仓库内存放无合格证明的钢材12吨"
NOTE = "负责人态度抵触，建议复查时携带执法记录仪"


def at(y, m, d, h=9):
    return datetime(y, m, d, h, tzinfo=BEIJING)


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def act(client, case_id: int, trigger: str, **data):
    return client.post(f"/api/v1/cases/{case_id}/actions/{trigger}", json={"data": data})


def upload(client, case_id: int, content: bytes, name: str):
    return client.post(f"/api/v1/cases/{case_id}/photos", data={"file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def user_id(api, username: str) -> int:
    return ok(api.as_user(username).get("/api/v1/me"))["id"]


def commitment_in_fulfilment(api) -> int:
    enterprise = api.as_user("enterprise")
    case = ok(enterprise.post("/api/v1/cases", json={"case_type": "credit_commitment", "subject_id": 1,
                                                     "data": {"commitment_type": "voluntary", "matter": MATTER}}), 201)
    ok(act(enterprise, case["id"], "sign", signer_name="李某", commitment_accepted=True))
    assert ok(act(api.as_user("window"), case["id"], "publish"))["state"] == "in_fulfilment"
    return case["id"]


def order_check(api, commitment_id: int, inspectors=("inspector", "inspector2")):
    return api.as_user("window").post("/api/v1/cases", json={
        "case_type": "onsite_verification", "subject_id": 1,
        "data": {"commitment_case_id": commitment_id, "inspector_ids": [user_id(api, u) for u in inspectors],
                 "scope": "核查是否销售不合格建材"}})


def add_inspector3(app) -> None:
    with app.app_context():
        model = db.session.execute(db.select(User).where(User.username == "inspector")).scalar_one()
        db.session.add(User(username="inspector3", role=Role.INSPECTOR, display_name="现场核查员三",
                            password_hash=model.password_hash, created_at=at(2026, 1, 5)))
        commit()


def inspected_check(api, clock) -> tuple[int, int]:
    """A check ordered, scheduled, photographed, recorded and countersigned; (commitment, check) ids."""
    commitment_id = commitment_in_fulfilment(api)
    check_id = ok(order_check(api, commitment_id), 201)["id"]
    inspector, inspector2 = api.as_user("inspector"), api.as_user("inspector2")
    ok(act(inspector, check_id, "schedule", visit_on="2026-04-15", place="龙山路1号"))
    clock.set(at(2026, 4, 15, 10))
    ok(upload(inspector, check_id, JPEG, "front.jpg"), 201)
    ok(act(inspector, check_id, "inspect", observations="仓库及门店现场检查", subject_signature="signed",
           signer_name="李某", inspector_signs=True))
    ok(act(inspector2, check_id, "countersign", inspector_signs=True))
    return commitment_id, check_id


# --- the API journey ----------------------------------------------------------------------------

def test_nonconforming_report_puts_the_commitment_in_suspected_breach(api, app, demo, clock):
    commitment_id = commitment_in_fulfilment(api)
    window, enterprise = api.as_user("window"), api.as_user("enterprise")

    refused = order_check(api, commitment_id, inspectors=("inspector",))
    assert refused.status_code == 422 and "inspector_ids" in refused.get_json()["details"]["fields"]
    twice = order_check(api, commitment_id, inspectors=("inspector", "inspector"))
    assert twice.status_code == 422 and "重复" in twice.get_json()["details"]["fields"]["inspector_ids"][0]
    check = ok(order_check(api, commitment_id), 201)
    check_id = check["id"]
    assert (check["case_type"], check["state"], check["reference"][:3]) == ("onsite_verification", "assigned", "XC-")
    assert [d["due"] for d in check["deadlines"] if d["kind"] == "visit"] == ["2026-04-27"]
    assert [i["name"] for i in check["details"]["inspectors"]] == ["现场核查员 / Inspector",
                                                                  "现场核查员二 / Second inspector"]
    assert check["available_actions"][0]["trigger"] == "cancel"  # the window may only call it off

    inspector, inspector2 = api.as_user("inspector"), api.as_user("inspector2")
    add_inspector3(app)
    stranger = api.as_user("inspector3")
    blocked = act(stranger, check_id, "schedule", visit_on="2026-04-15")
    assert blocked.status_code == 409 and "指派" in blocked.get_json()["details"]["reasons"][0]
    past = act(inspector, check_id, "schedule", visit_on="2026-04-10")
    assert past.status_code == 409 and "2026-04-10" in past.get_json()["details"]["reasons"][0]
    assert ok(act(inspector, check_id, "schedule", visit_on="2026-04-15", place="龙山路1号"))["state"] == "scheduled"

    clock.set(at(2026, 4, 15, 10))
    no_photo = act(inspector, check_id, "inspect", observations="现场检查", subject_signature="signed",
                   signer_name="李某", inspector_signs=True)
    assert no_photo.status_code == 409 and "照片" in no_photo.get_json()["details"]["reasons"][0]
    wrong_type = upload(inspector, check_id, b"%PDF-1.4\n%%EOF", "photo.jpg")
    assert wrong_type.status_code == 422 and wrong_type.get_json()["details"]["allowed_types"] == [
        "image/jpeg", "image/png"]
    assert upload(stranger, check_id, PNG, "x.png").status_code == 403
    assert upload(enterprise, check_id, PNG, "x.png").status_code == 403
    photo = ok(upload(inspector, check_id, PNG, "warehouse.png"), 201)
    assert (photo["material_key"], photo["content_type"], photo["size_bytes"]) == ("photo", "image/png", len(PNG))

    recorded = ok(act(inspector, check_id, "inspect", observations="仓库内发现无合格证明的钢材",
                      subject_signature="refused", refusal_reason="负责人称须请示总公司，拒绝签字",
                      inspector_signs=True))
    assert recorded["state"] == "inspected"
    assert recorded["events"][-1]["payload"]["materials"][0]["sha256"] == photo["sha256"]
    unsigned = act(inspector, check_id, "report", result="nonconforming", findings=FINDING)
    assert unsigned.status_code == 409 and "现场核查员二" in unsigned.get_json()["details"]["reasons"][0]
    assert act(stranger, check_id, "countersign", inspector_signs=True).status_code == 409
    ok(act(inspector2, check_id, "countersign", inspector_signs=True))
    assert act(stranger, check_id, "report", result="conforming").status_code == 409

    reported = ok(act(inspector2, check_id, "report", result="nonconforming", findings=FINDING, internal_note=NOTE))
    assert reported["state"] == "reported" and reported["details"]["commitment_outcome"] == "suspected_breach"

    commitment = ok(window.get(f"/api/v1/cases/{commitment_id}"))
    assert commitment["state"] == "suspected_breach"
    last = commitment["events"][-1]
    assert (last["trigger"], last["actor_role"]) == ("flag_by_onsite_check", "system")
    assert FINDING in last["reason"] and check["reference"] in last["reason"]
    assert {(link["reference"], link["direction"]) for link in commitment["links"]} == {(check["reference"], "to")}

    # The applicant sees the check, the result and the finding — never the internal note.
    seen = enterprise.get(f"/api/v1/cases/{check_id}")
    body = ok(seen)
    assert body["details"]["result"] == "nonconforming" and body["details"]["findings"] == FINDING
    assert body["available_actions"] == []
    assert NOTE not in seen.get_data(as_text=True)
    assert {(link["reference"], link["direction"]) for link in body["links"]} == {(commitment["reference"], "from")}
    with app.app_context():
        told = {m.recipient.username for m in db.session.execute(db.select(OutboxMessage).where(
            OutboxMessage.case_id == check_id, OutboxMessage.event == "onsite-reported")).scalars()}
        assert {"enterprise", "window"} <= told
        assert db.session.get(Case, commitment_id).state == "suspected_breach"


def test_conforming_report_fulfils_the_commitment(api, app, demo, clock):
    commitment_id, check_id = inspected_check(api, clock)
    reported = ok(act(api.as_user("inspector"), check_id, "report", result="conforming"))
    assert reported["details"]["result"] == "conforming"
    commitment = ok(api.as_user("enterprise").get(f"/api/v1/cases/{commitment_id}"))
    assert commitment["state"] == "fulfilled" and commitment["terminal"] is True
    assert commitment["events"][-1]["trigger"] == "confirm_by_onsite_check"


def test_a_conforming_report_on_a_commitment_that_moved_on_is_only_noted(api, app, demo, clock):
    commitment_id, check_id = inspected_check(api, clock)
    ok(act(api.as_user("window"), commitment_id, "suspect_breach", source="complaint", reason="群众投诉"))
    reported = ok(act(api.as_user("inspector"), check_id, "report", result="conforming"))
    noted = reported["events"][-1]["payload"]["commitment"]
    assert noted["outcome"] == "left" and noted["state"] == "suspected_breach" and noted["reasons"]
    assert ok(api.as_user("window").get(f"/api/v1/cases/{commitment_id}"))["state"] == "suspected_breach"


def test_only_staff_who_own_the_commitment_order_a_check(api, app, demo):
    commitment_id = commitment_in_fulfilment(api)
    body = {"case_type": "onsite_verification", "subject_id": 1,
            "data": {"commitment_case_id": commitment_id,
                     "inspector_ids": [user_id(api, "inspector"), user_id(api, "inspector2")]}}
    # The applicant and another department are refused; an inspector cannot even see the subject.
    for who, status in (("enterprise", 403), ("reviewer", 403), ("market", 403), ("inspector", 404)):
        response = api.as_user(who).post("/api/v1/cases", json=body)
        assert response.status_code == status, (who, response.get_json())
    with app.app_context():
        assert db.session.execute(db.select(Case).where(Case.case_type == "onsite_verification")).first() is None


def test_the_case_types_list_describes_the_machine(api, app):
    types = {t["key"]: t for t in ok(api.get("/api/v1/case-types"))["case_types"]}
    onsite = types["onsite_verification"]
    assert [s["key"] for s in onsite["states"]] == ["assigned", "scheduled", "inspected", "reported", "cancelled"]
    assert {t["kind"]: (t["budget"], t["unit"]) for t in onsite["timers"]} == {"visit": (10, "wd"), "report": (3, "wd")}
    spec = ok(api.get("/api/v1/openapi.json"))
    assert "post" in spec["paths"]["/api/v1/cases/{case_id}/photos"]


# --- the phone pages ----------------------------------------------------------------------------

def as_user(app, username: str) -> Browser:
    browser = Browser(app)
    assert browser.login(username).status_code == 302
    return browser


def test_the_inspector_works_a_visit_from_the_phone_page(api, app, demo, clock):
    commitment_id = commitment_in_fulfilment(api)
    check = ok(order_check(api, commitment_id), 201)
    phone = as_user(app, "inspector")

    listing = phone.get("/inspection")
    page = listing.get_data(as_text=True)
    assert listing.status_code == 200
    assert 'data-testid="nav-inspection.index"' in page and "现场核查" in page
    assert f'data-testid="visit-{check["reference"]}"' in page and "威海文登示范建材有限公司" in page

    visit_url = f"/inspection/visits/{check['id']}"
    visit = phone.get(visit_url)
    page = visit.get_data(as_text=True)
    assert visit.status_code == 200
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    assert MATTER in page and "2026-04-27" in page
    assert 'data-testid="photo-form"' not in page  # no photo before the visit is scheduled

    scheduled = phone.post_form(visit_url, f"{visit_url}/actions/schedule",
                                {"visit_on": "2026-04-15", "place": "龙山路1号", "expected_version": ""})
    assert scheduled.status_code == 302 and scheduled.headers["Location"].endswith(visit_url)
    page = phone.get(visit_url).get_data(as_text=True)
    assert 'accept="image/*" capture="environment"' in page and "2026-04-15" in page

    token = csrf_token_from(page)
    wrong = phone.client.post(f"{visit_url}/photos", data={"csrf_token": token, "file": (io.BytesIO(b"GIF89a..."),
                                                                                         "x.gif")},
                              content_type="multipart/form-data")
    assert wrong.status_code == 422 and "JPEG" in wrong.get_data(as_text=True)
    uploaded = phone.client.post(f"{visit_url}/photos", data={"csrf_token": token, "file": (io.BytesIO(JPEG),
                                                                                            "door.jpg")},
                                 content_type="multipart/form-data")
    assert uploaded.status_code == 302
    page = phone.get(visit_url).get_data(as_text=True)
    assert 'data-testid="photo-' in page and 'data-testid="action-inspect"' in page

    missing = phone.post_form(visit_url, f"{visit_url}/actions/inspect",
                              {"observations": "门店现场检查", "subject_signature": "signed", "signer_name": "",
                               "inspector_signs": "on"})
    assert missing.status_code == 422 and 'data-testid="error-inspect-signer_name"' in missing.get_data(as_text=True)
    done = phone.post_form(visit_url, f"{visit_url}/actions/inspect",
                           {"observations": "门店现场检查", "subject_signature": "signed", "signer_name": "李某",
                            "inspector_signs": "on"})
    assert done.status_code == 302
    with app.app_context():
        assert db.session.get(Case, check["id"]).state == "inspected"
    page = phone.get(visit_url).get_data(as_text=True)
    assert 'data-testid="action-blocked-report"' in page and "现场核查员二" in page


def test_the_phone_pages_are_for_the_assigned_inspectors_only(api, app, demo):
    check = ok(order_check(api, commitment_in_fulfilment(api)), 201)
    visit_url = f"/inspection/visits/{check['id']}"
    applicant = as_user(app, "enterprise")
    assert applicant.get("/inspection").status_code == 403
    assert applicant.get(visit_url).status_code == 403
    assert 'nav-inspection.index' not in applicant.get("/portal").get_data(as_text=True)
    assert as_user(app, "window").get("/inspection").status_code == 403
    add_inspector3(app)
    stranger = as_user(app, "inspector3")
    assert stranger.get("/inspection").status_code == 200
    assert check["reference"] not in stranger.get("/inspection").get_data(as_text=True)
    refused = stranger.get(visit_url)
    assert refused.status_code == 403 and "指派" in refused.get_data(as_text=True)


def test_both_case_pages_show_the_link_and_the_applicant_never_the_note(api, app, demo, clock):
    commitment_id, check_id = inspected_check(api, clock)
    ok(act(api.as_user("inspector"), check_id, "report", result="nonconforming", findings=FINDING,
           internal_note=NOTE))
    applicant = as_user(app, "enterprise")
    page = applicant.get(f"/cases/{check_id}").get_data(as_text=True)
    assert 'data-testid="onsite-details"' in page and FINDING in page and NOTE not in page
    commitment_page = applicant.get(f"/cases/{commitment_id}").get_data(as_text=True)
    with app.app_context():
        reference = db.session.get(Case, check_id).reference
    assert f'data-testid="link-{reference}"' in commitment_page
    inspector_page = as_user(app, "inspector").get(f"/inspection/visits/{check_id}").get_data(as_text=True)
    assert NOTE in inspector_page and 'data-testid="internal-note"' in inspector_page


def test_visit_reminders_and_escalation_go_to_the_assigned_inspectors(app, api, demo, clock):
    from models import InboxMessage
    from workflows.sweep import sweep

    add_inspector3(app)
    commitment_id = commitment_in_fulfilment(api)
    check = ok(order_check(api, commitment_id), 201)
    [visit] = [d for d in check["deadlines"] if d["kind"] == "visit"]
    assert visit["due"] == "2026-04-27"  # 10 WD from Monday 2026-04-13
    clock.set(at(2026, 4, 28, 9))  # overdue by one working day
    with app.app_context():
        sweep(db.session, app.extensions["creditdesk"], commit=commit)
        told = set(db.session.execute(
            db.select(User.username).join(InboxMessage, InboxMessage.user_id == User.id)
            .where(InboxMessage.title.contains(check["reference"]))).scalars())
    assert {"inspector", "inspector2"} <= told
    assert "inspector3" not in told
