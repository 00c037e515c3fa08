"""Credit commitments through the API and the pages, as the real roles: applicants open and sign
their own commitments, the window publishes them, the public page lists organisations' published
commitments only, and the generic case page draws the commitment's actions from its schemas."""
from __future__ import annotations

import hashlib
import re

from page_client import Browser, csrf_token_from

from models import Case, Commitment, OutboxMessage, Subject, User, db
from webapp.views.common import commit
from workflows.service import fire, open_case

MATTER = "依法诚信经营，不销售不合格建材"
VERSION_RE = re.compile(r'name="expected_version" value="(\d+)"')


def html(response) -> str:
    return response.get_data(as_text=True)


def as_user(app, username: str) -> Browser:
    browser = Browser(app)
    assert browser.login(username).status_code == 302
    return browser


def open_commitment(client, subject_id: int = 1, **data):
    return client.post("/api/v1/cases", json={"case_type": "credit_commitment", "subject_id": subject_id,
                                             "data": {"commitment_type": "voluntary", "matter": MATTER, **data}})


def sign(client, case_id: int, signer: str = "李某"):
    return client.post(f"/api/v1/cases/{case_id}/actions/sign",
                       json={"data": {"signer_name": signer, "commitment_accepted": True}})


def published(app, username: str, subject_id: int, matter: str = MATTER, publish: bool = True) -> int:
    """A commitment opened and signed by `username` for `subject_id`, published by the window."""
    with app.app_context():
        runtime = app.extensions["creditdesk"]
        applicant = db.session.execute(db.select(User).where(User.username == username)).scalar_one()
        window = db.session.execute(db.select(User).where(User.username == "window")).scalar_one()
        case = open_case("credit_commitment", db.session.get(Subject, subject_id), applicant,
                         {"commitment_type": "voluntary", "matter": matter}, runtime=runtime)
        fire(case, "sign", applicant, {"signer_name": "签署人", "commitment_accepted": True}, runtime=runtime)
        if publish:
            fire(case, "publish", window, {}, runtime=runtime)
        commit()
        return case.id


# --- API ----------------------------------------------------------------------------------------

def test_open_sign_and_publish_through_the_api(api, app, demo):
    enterprise = api.as_user("enterprise")
    opened = open_commitment(enterprise, term_until="2027-04-12")
    assert opened.status_code == 201, opened.get_json()
    case = opened.get_json()
    assert (case["case_type"], case["state"], case["reference"][:3]) == ("credit_commitment", "draft", "CN-")
    details = case["details"]
    assert details["commitment_type"] == "voluntary" and details["public"] is True
    assert "威海文登示范建材有限公司" in details["commitment_text"] and "2027-04-12" in details["commitment_text"]
    actions = {a["trigger"]: a for a in case["available_actions"]}
    assert set(actions) == {"sign", "withdraw"}
    assert [f["name"] for f in actions["sign"]["fields"]] == ["signer_name", "commitment_accepted"]

    signed = sign(enterprise, case["id"])
    assert signed.status_code == 200 and signed.get_json()["state"] == "signed"
    sha = signed.get_json()["events"][-1]["payload"]["commitment_sha256"]
    assert sha == hashlib.sha256(details["commitment_text"].encode("utf-8")).hexdigest()

    window = api.as_user("window")
    publish = window.post(f"/api/v1/cases/{case['id']}/actions/publish", json={"data": {}})
    body = publish.get_json()
    assert publish.status_code == 200 and body["state"] == "in_fulfilment"
    assert [(e["trigger"], e["actor_role"]) for e in body["events"][-2:]] == [
        ("publish", "reviewer"), ("start_fulfilment", "system")]
    assert body["details"]["published_on"] == "2026-04-13"
    with app.app_context():
        signed_notice = db.session.execute(db.select(OutboxMessage).where(
            OutboxMessage.event == "commitment-signed")).scalars().all()
        assert {(m.channel, m.recipient_user_id) for m in signed_notice} == {
            ("inapp", db.session.execute(db.select(User.id).where(User.username == "window")).scalar_one())}
        assert db.session.execute(db.select(OutboxMessage).where(
            OutboxMessage.event == "commitment-published")).scalars().first() is not None


def test_case_types_describe_the_commitment_machine(api, app):
    types = {t["key"]: t for t in api.get("/api/v1/case-types").get_json()["case_types"]}
    commitment = types["credit_commitment"]
    assert [s["key"] for s in commitment["states"]][:4] == ["draft", "signed", "published", "in_fulfilment"]
    timers = {t["kind"]: (t["budget"], t["unit"], t["expiry_trigger"]) for t in commitment["timers"]}
    assert timers == {"publish": (7, "wd", None), "first_check": (30, "cd", None),
                      "attendance": (3, "wd", "miss_interview"), "rectification": (10, "wd", "miss_rectification")}


def test_signing_for_a_subject_one_does_not_act_for_is_refused(api, app, demo):
    # Committing for a subject one does not act for is a 403; another applicant's existing case
    # stays invisible (404, as for repairs); staff never sign for a promisor (403).
    person = api.as_user("person")
    refused = open_commitment(person, subject_id=1)
    assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden"
    case_id = open_commitment(api.as_user("enterprise")).get_json()["id"]
    assert sign(person, case_id).status_code == 404
    window = api.as_user("window")
    refused_open = open_commitment(window, subject_id=1)
    assert refused_open.status_code == 403 and refused_open.get_json()["error"] == "forbidden"
    refused_sign = sign(window, case_id)
    assert refused_sign.status_code == 403 and refused_sign.get_json()["error"] == "forbidden"
    with app.app_context():
        assert db.session.get(Case, case_id).state == "draft"


def test_opening_other_types_directly_is_422(api, app, demo):
    response = open_commitment(api.as_user("enterprise"), commitment_type="repair")
    assert response.status_code == 422 and "commitment_type" in response.get_json()["details"]["fields"]
    response = open_commitment(api.as_user("enterprise"), matter="")
    assert response.status_code == 422 and "matter" in response.get_json()["details"]["fields"]


def test_withdrawal_after_publication_is_409(api, app, demo):
    case_id = published(app, "enterprise", 1)
    response = api.as_user("enterprise").post(f"/api/v1/cases/{case_id}/actions/withdraw", json={"data": {}})
    assert response.status_code == 409 and response.get_json()["details"]["reasons"]


# --- the public page ----------------------------------------------------------------------------

def test_public_page_lists_organisations_only_and_searches_by_uscc(app, demo, client):
    company = published(app, "enterprise", 1, "承诺依法诚信经营（公司）")
    shop = published(app, "enterprise", 2, "承诺明码标价（商行）")
    person = published(app, "person", 3, "承诺按时履行（个人）")
    unpublished = published(app, "enterprise", 1, "尚未公示的承诺", publish=False)
    with app.app_context():
        refs = {i: db.session.get(Case, i).reference for i in (company, shop, person, unpublished)}
        company_uscc = db.session.get(Subject, 1).uscc
        assert not db.session.get(Commitment, person).public

    page = client.get("/public/commitments")  # no login
    assert page.status_code == 200
    text = html(page)
    assert refs[company] in text and refs[shop] in text and company_uscc in text
    assert "承诺依法诚信经营（公司）" in text and "2026-04-13" in text and "履约中" in text
    assert refs[person] not in text and "张某" not in text and "承诺按时履行（个人）" not in text
    assert refs[unpublished] not in text

    by_uscc = html(client.get(f"/public/commitments?q={company_uscc.lower()}"))
    assert refs[company] in by_uscc and refs[shop] not in by_uscc
    by_name = html(client.get("/public/commitments?q=示范食品"))
    assert refs[shop] in by_name and refs[company] not in by_name
    nobody = html(client.get("/public/commitments?q=张某"))
    assert refs[person] not in nobody and 'data-testid="public-empty"' in nobody


def test_public_page_shows_a_suspicion_only_as_tracking(app, demo, client):
    case_id = published(app, "enterprise", 1)
    with app.app_context():
        runtime = app.extensions["creditdesk"]
        window = db.session.execute(db.select(User).where(User.username == "window")).scalar_one()
        fire(case_id, "suspect_breach", window, {"source": "complaint", "reason": "收到投诉"}, runtime=runtime)
        commit()
    text = html(client.get("/public/commitments"))
    assert "履约中" in text and "疑似违诺" not in text


def test_visitors_see_the_public_link_in_the_header(app, demo, client):
    login_page = html(client.get("/login"))
    assert 'data-testid="nav-public.commitments"' in login_page and "/public/commitments" in login_page
    enterprise = as_user(app, "enterprise")
    portal = html(enterprise.get("/portal"))
    assert 'data-testid="nav-public.commitments"' not in portal
    assert 'data-testid="nav-portal.commitments"' in portal


# --- applicants' pages and the generic case page ------------------------------------------------

def test_applicant_drafts_a_commitment_and_signs_it_on_the_case_page(app, demo):
    browser = as_user(app, "enterprise")
    page = browser.get("/portal/commitments")
    assert page.status_code == 200 and 'data-testid="no-commitments"' in html(page)
    created = browser.post_form("/portal/commitments", "/portal/commitments", {
        "subject_id": "2", "commitment_type": "industry_self_discipline", "matter": "遵守食品行业自律公约",
        "term_until": ""})
    assert created.status_code == 302, html(created)
    case_url = created.headers["Location"]
    case_id = int(case_url.rsplit("/", 1)[1])

    shown = html(browser.get(case_url))
    assert 'data-testid="action-sign"' in shown and 'data-testid="field-sign-signer_name"' in shown
    assert 'name="commitment_accepted"' in shown and "行业自律公约" in shown and "文登区示范食品商行" in shown
    listing = html(browser.get("/portal/commitments"))
    assert f'data-testid="sign-{case_id}"' in listing

    version = VERSION_RE.search(shown).group(1)
    unticked = browser.client.post(f"/cases/{case_id}/actions/sign", data={
        "signer_name": "王某", "expected_version": version, "csrf_token": csrf_token_from(shown)})
    assert unticked.status_code == 422 and 'data-testid="error-sign-commitment_accepted"' in html(unticked)
    signed = browser.client.post(f"/cases/{case_id}/actions/sign", data={
        "signer_name": "王某", "commitment_accepted": "on", "expected_version": version,
        "csrf_token": csrf_token_from(shown)})
    assert signed.status_code == 302
    with app.app_context():
        case = db.session.get(Case, case_id)
        row = db.session.get(Commitment, case_id)
        assert case.state == "signed" and row.signed_by == "王某" and case.subject_id == 2

    window = as_user(app, "window")
    window_page = html(window.get(case_url))
    assert 'data-testid="action-publish"' in window_page and 'data-testid="action-sign"' not in window_page


def test_new_commitment_form_reports_errors_in_place(app, demo):
    browser = as_user(app, "enterprise")
    response = browser.post_form("/portal/commitments", "/portal/commitments", {
        "subject_id": "3", "commitment_type": "voluntary", "matter": MATTER})
    assert response.status_code == 404 and 'data-testid="error-subject_id"' in html(response)
    response = browser.post_form("/portal/commitments", "/portal/commitments", {
        "subject_id": "1", "commitment_type": "voluntary", "matter": ""})
    assert response.status_code == 422 and 'data-testid="error-matter"' in html(response)
    with app.app_context():
        assert db.session.query(Commitment).count() == 0


def test_commitment_pages_are_for_applicants(app, demo):
    assert as_user(app, "window").get("/portal/commitments").status_code == 403
    assert Browser(app).get("/portal/commitments").status_code == 302  # to the login page
