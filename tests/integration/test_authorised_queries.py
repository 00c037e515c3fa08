"""Authorised queries (授权查询) and government sharing (政务共享) of a subject's non-public
information, through the API's score and records endpoints and the pages (DOMAIN.md §9.3;
SD-Cond §20–22): who may read, on which basis, and the access log row every query leaves.

Demo data (webapp/demo.py): user "person" acts for subject 3 (the natural person 张某), user
"enterprise" for subjects 1 and 2 (organisations); "window" and "market" are reviewers. The clock
starts on Monday 2026-04-13.
"""
from __future__ import annotations

import io
from datetime import datetime

import pytest
from page_client import Browser, csrf_token_from
from sqlalchemy.exc import IntegrityError

from models import InformationAccessLog, QueryAuthorisation, db
from workflows.clock import BEIJING

PDF = b"%PDF-1.4\n% signed authorisation\n"


def at(y, m, d, h=9):
    return datetime(y, m, d, h, tzinfo=BEIJING)


def log_rows(app) -> list[InformationAccessLog]:
    with app.app_context():
        rows = db.session.execute(db.select(InformationAccessLog).order_by(InformationAccessLog.id)).scalars().all()
        db.session.expunge_all()
        return rows


def last_log(app) -> InformationAccessLog:
    rows = log_rows(app)
    assert rows, "no access log row was written"
    return rows[-1]


def grant(api, grantee="enterprise", subject_id=3, by="person", **period):
    body = {"grantee_username": grantee, "purpose": "个人经营贷款审批", "valid_from": "2026-04-13",
            "valid_until": "2026-05-13", **period}
    return api.as_user(by).post(f"/api/v1/subjects/{subject_id}/authorisations", json=body)


def as_user(app, username: str) -> Browser:
    browser = Browser(app)
    assert browser.login(username).status_code == 302
    return browser


# --- third parties ------------------------------------------------------------------------------

@pytest.mark.parametrize("what", ["score", "records"])
def test_a_third_party_without_authorisation_is_refused_and_logged(app, demo, api, what):
    response = api.as_user("enterprise").get(f"/api/v1/subjects/3/{what}")
    assert response.status_code == 403 and response.get_json()["error"] == "forbidden"
    assert "授权" in response.get_json()["message"]
    row = last_log(app)
    assert (row.username, row.subject_id, row.what, row.basis) == ("enterprise", 3, what, "refused")
    assert row.subject_kind == "natural_person" and row.reason and row.ip == "127.0.0.1"
    assert row.at == at(2026, 4, 13)
    assert response.get_json()["details"]["access_log_id"] == row.id


def test_an_authorised_grantee_reads_within_validity_and_is_logged(app, demo, api, clock):
    created = grant(api)
    assert created.status_code == 201, created.get_json()
    grant_id = created.get_json()["id"]
    assert created.get_json()["status"] == "in_force"
    enterprise = api.as_user("enterprise")

    score = enterprise.get("/api/v1/subjects/3/score")
    assert score.status_code == 200 and score.get_json()["score"] == 980  # record 4: −20 since 2026-03-02
    row = last_log(app)
    assert (row.basis, row.what, row.authorisation_id, row.purpose) == ("authorised", "score", grant_id, "个人经营贷款审批")
    records = enterprise.get("/api/v1/subjects/3/records")
    assert records.status_code == 200 and [r["id"] for r in records.get_json()["records"]] == [4]
    assert last_log(app).basis == "authorised"

    clock.set(at(2026, 5, 13, 23))  # the last day counts in full
    assert enterprise.get("/api/v1/subjects/3/score").status_code == 200
    clock.set(at(2026, 5, 14, 0))
    after = enterprise.get("/api/v1/subjects/3/records")
    assert after.status_code == 403
    assert (last_log(app).basis, last_log(app).authorisation_id) == ("refused", None)
    assert [r.basis for r in log_rows(app)] == ["authorised", "authorised", "authorised", "refused"]


def test_an_authorisation_starting_later_and_a_revoked_one_give_no_access(app, demo, api, clock):
    grant_id = grant(api, valid_from="2026-04-20", valid_until="2026-06-30").get_json()["id"]
    enterprise = api.as_user("enterprise")
    assert enterprise.get("/api/v1/subjects/3/score").status_code == 403
    clock.set(at(2026, 4, 20))
    assert enterprise.get("/api/v1/subjects/3/score").status_code == 200
    revoked = api.as_user("person").post(f"/api/v1/authorisations/{grant_id}/revoke")
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    assert enterprise.get("/api/v1/subjects/3/score").status_code == 403
    assert api.as_user("person").post(f"/api/v1/authorisations/{grant_id}/revoke").status_code == 422
    assert [r.basis for r in log_rows(app)] == ["refused", "authorised", "refused"]


def test_an_authorisation_is_for_one_grantee_and_one_subject(app, demo, api):
    assert grant(api, grantee="market").status_code == 201
    assert api.as_user("enterprise").get("/api/v1/subjects/3/score").status_code == 403  # not the grantee
    # The grantee of subject 3 gains nothing on other subjects; organisations are refused the same way.
    assert api.as_user("person").get("/api/v1/subjects/1/score").status_code == 403
    assert last_log(app).subject_kind == "legal_person" and last_log(app).basis == "refused"
    company = grant(api, grantee="person", subject_id=1, by="enterprise")
    assert company.status_code == 201
    assert api.as_user("person").get("/api/v1/subjects/1/records").status_code == 200
    assert api.as_user("person").get("/api/v1/subjects/2/records").status_code == 403


def test_only_the_subjects_user_may_grant_and_input_is_checked(app, demo, api):
    assert grant(api, by="enterprise").status_code == 404  # subject 3 is not enterprise's
    assert grant(api, by="window").status_code == 403
    unknown = grant(api, grantee="nobody")
    assert unknown.status_code == 422 and "grantee_username" in unknown.get_json()["details"]["fields"]
    backwards = grant(api, valid_from="2026-05-01", valid_until="2026-04-30")
    assert backwards.status_code == 422 and "valid_until" in backwards.get_json()["details"]["fields"]
    past = grant(api, valid_from="2026-01-01", valid_until="2026-04-12")
    assert past.status_code == 422
    assert grant(api, grantee="person").status_code == 422  # one's own account needs no authorisation
    other = api.as_user("enterprise").post("/api/v1/authorisations/999/revoke")
    assert other.status_code == 404


def test_the_subjects_own_user_reads_and_is_logged_as_self(app, demo, api):
    assert api.as_user("person").get("/api/v1/subjects/3/score").status_code == 200
    assert (last_log(app).basis, last_log(app).username) == ("self", "person")


# --- government sharing -------------------------------------------------------------------------

@pytest.mark.parametrize("what", ["score", "records"])
def test_staff_need_a_purpose_for_a_natural_person(app, demo, api, what):
    window = api.as_user("window")
    refused = window.get(f"/api/v1/subjects/3/{what}")
    assert refused.status_code == 403 and "purpose" in refused.get_json()["message"]
    assert (last_log(app).basis, last_log(app).purpose) == ("refused", "")
    blank = window.get(f"/api/v1/subjects/3/{what}", query_string={"purpose": "   "})
    assert blank.status_code == 403
    shared = window.get(f"/api/v1/subjects/3/{what}", query_string={"purpose": "行政许可信用核查（逢办必查）"})
    assert shared.status_code == 200
    row = last_log(app)
    assert (row.basis, row.username, row.purpose, row.what) == (
        "government_sharing", "window", "行政许可信用核查（逢办必查）", what)
    assert [r.basis for r in log_rows(app)] == ["refused", "refused", "government_sharing"]


def test_staff_read_organisations_as_before_and_it_is_logged(app, demo, api):
    assert api.as_user("market").get("/api/v1/subjects/1/score").status_code == 200
    assert (last_log(app).basis, last_log(app).subject_kind) == ("government_sharing", "legal_person")


def test_case_workers_without_a_query_right_are_refused_even_with_a_purpose(app, demo, api):
    response = api.as_user("mediator").get("/api/v1/subjects/3/score", query_string={"purpose": "调解"})
    assert response.status_code == 403 and last_log(app).basis == "refused"


def test_unknown_subject_is_404_and_not_logged(app, demo, api):
    assert api.as_user("window").get("/api/v1/subjects/999/score?purpose=x").status_code == 404
    assert log_rows(app) == []


def test_the_database_refuses_a_purposeless_sharing_row_for_a_person(app, demo):
    with app.app_context():
        db.session.add(InformationAccessLog(username="window", user_role="reviewer", subject_id=3,
                                            subject_kind="natural_person", what="score",
                                            basis="government_sharing", purpose="", at=at(2026, 4, 13)))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


# --- the pages ----------------------------------------------------------------------------------

def test_person_grants_with_a_document_and_revokes_on_the_portal_page(app, demo, api):
    person = as_user(app, "person")
    page = person.get("/portal/authorisations")
    assert page.status_code == 200 and 'data-testid="no-grants"' in page.get_data(as_text=True)
    token = csrf_token_from(page.get_data(as_text=True))
    created = person.client.post("/portal/authorisations", data={
        "csrf_token": token, "subject_id": "3", "grantee_username": "enterprise", "purpose": "房屋租赁资信审查",
        "valid_from": "2026-04-13", "valid_until": "2026-04-30",
        "document": (io.BytesIO(PDF), "授权书.pdf")}, content_type="multipart/form-data")
    assert created.status_code == 302, created.get_data(as_text=True)
    with app.app_context():
        grant_row = db.session.execute(db.select(QueryAuthorisation)).scalar_one()
        grant_id, sha = grant_row.id, grant_row.document_sha256
    assert sha and len(sha) == 64
    listing = person.get("/portal/authorisations").get_data(as_text=True)
    assert f'data-testid="grant-row-{grant_id}" data-status="in_force"' in listing and "房屋租赁资信审查" in listing
    assert api.as_user("enterprise").get("/api/v1/subjects/3/score").status_code == 200

    # The document: for the subject's user, the grantee and auditors; nobody else.
    assert person.get(f"/authorisations/{grant_id}/document").data == PDF
    assert as_user(app, "enterprise").get(f"/authorisations/{grant_id}/document").status_code == 200
    assert as_user(app, "auditor").get(f"/authorisations/{grant_id}/document").status_code == 200
    assert as_user(app, "market").get(f"/authorisations/{grant_id}/document").status_code == 404
    received = as_user(app, "enterprise").get("/portal/authorisations").get_data(as_text=True)
    assert f'data-testid="received-row-{grant_id}"' in received

    token = csrf_token_from(listing)
    assert person.client.post(f"/portal/authorisations/{grant_id}/revoke", data={"csrf_token": token}).status_code == 302
    listing = person.get("/portal/authorisations").get_data(as_text=True)
    assert f'data-testid="grant-row-{grant_id}" data-status="revoked"' in listing
    assert api.as_user("enterprise").get("/api/v1/subjects/3/score").status_code == 403


def test_grant_form_reports_errors_in_place(app, demo):
    person = as_user(app, "person")
    page = person.get("/portal/authorisations").get_data(as_text=True)
    response = person.client.post("/portal/authorisations", data={
        "csrf_token": csrf_token_from(page), "subject_id": "1", "grantee_username": "enterprise", "purpose": "x",
        "valid_from": "2026-04-13", "valid_until": "2026-04-30"})
    assert response.status_code == 422  # subject 1 is not the person's
    assert 'data-testid="error-subject_id"' in response.get_data(as_text=True)
    response = person.client.post("/portal/authorisations", data={
        "csrf_token": csrf_token_from(page), "subject_id": "3", "grantee_username": "nobody", "purpose": "贷款审批",
        "valid_from": "2026-04-13", "valid_until": "2026-04-30"})
    assert response.status_code == 422 and 'data-testid="error-grantee_username"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(db.select(QueryAuthorisation)).first() is None


def test_access_log_page_for_auditors_with_filters(app, demo, api):
    api.as_user("enterprise").get("/api/v1/subjects/3/score")
    api.as_user("window").get("/api/v1/subjects/3/records", query_string={"purpose": "失信联合惩戒核查"})
    api.as_user("person").get("/api/v1/subjects/3/score")
    auditor = as_user(app, "auditor")
    page = auditor.get("/admin/access-log").get_data(as_text=True)
    assert page.count('data-testid="log-row-') == 3 and "失信联合惩戒核查" in page
    assert 'data-testid="nav-access.access_log"' in page
    refused = auditor.get("/admin/access-log", query_string={"basis": "refused"}).get_data(as_text=True)
    assert refused.count('data-testid="log-row-') == 1 and 'data-basis="refused"' in refused
    by_user = auditor.get("/admin/access-log", query_string={"user": "window", "what": "records"}).get_data(as_text=True)
    assert by_user.count('data-testid="log-row-') == 1 and 'data-basis="government_sharing"' in by_user
    nothing = auditor.get("/admin/access-log", query_string={"kind": "organisation"}).get_data(as_text=True)
    assert 'data-testid="log-empty"' in nothing
    later = auditor.get("/admin/access-log", query_string={"from": "2026-04-14"}).get_data(as_text=True)
    assert 'data-testid="log-empty"' in later
    assert as_user(app, "admin").get("/admin/access-log").status_code == 200
    assert as_user(app, "window").get("/admin/access-log").status_code == 403
    assert as_user(app, "person").get("/admin/access-log").status_code == 403
    api_rows = api.as_user("auditor").get("/api/v1/access-log", query_string={"basis": "self"}).get_json()["entries"]
    assert [(r["user"], r["basis"]) for r in api_rows] == [("person", "self")]
    assert api.as_user("window").get("/api/v1/access-log").status_code == 403
