"""The objections-and-listings pages: the applicant's page (/portal/objections-and-listings), the
departments' verification queue (/review/provider-queue) and the public red and black lists
(/public/lists), driven as the real roles with cases moved along through the API.

Demo data (webapp/demo.py): subject 1 is the company of user "enterprise" (record 1: 执法局,
record 2: 市场监管局), subject 3 the natural person of user "person" (record 4).
"""
from __future__ import annotations

import re
from datetime import datetime

import pytest
from page_client import Browser
from sqlalchemy import event

from models import db
from webapp.views.common import commit
from workflows.clock import BEIJING
from workflows.sweep import sweep

LISTING = {"criteria_key": "unfair_competition", "facts": "串通投标，严重破坏市场公平竞争秩序",
           "act_ended_on": "2026-03-02"}


def at(y, m, d, h=9):
    return datetime(y, m, d, h, tzinfo=BEIJING)


def as_user(app, username: str) -> Browser:
    browser = Browser(app)
    assert browser.login(username).status_code == 302
    return browser


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def act(client, case_id: int, trigger: str, **data):
    response = client.post(f"/api/v1/cases/{case_id}/actions/{trigger}", json={"data": data})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def open_objection_routed_to_market(api, record_id: int = 2, subject_id: int = 1) -> int:
    """The company objects to a 市场监管局 record (2, or the shop's 3); the window accepts it and
    sends the 协查函 to the provider."""
    enterprise, window = api.as_user("enterprise"), api.as_user("window")
    created = enterprise.post("/api/v1/cases", json={
        "case_type": "objection", "subject_id": subject_id, "data": {"record_id": record_id, "grounds": "inaccurate"}})
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["id"]
    act(enterprise, case_id, "submit", statement="该处罚记录有误")
    act(window, case_id, "accept")
    act(window, case_id, "route_to_provider", letter="请核查该处罚记录")
    return case_id


def open_and_serve(api, clock, subject_id: int = 1) -> int:
    """DOMAIN §10 S14: the 告知书 is served on Wednesday 2026-05-06; the period ends 05-12."""
    clock.set(at(2026, 5, 6))
    created = api.as_user("reviewer").post(
        "/api/v1/cases", json={"case_type": "blacklist", "subject_id": subject_id, "data": LISTING})
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["id"]
    act(api.as_user("head"), case_id, "approve_proposal", note="同意")
    return case_id


def list_without_statement(app, runtime, api, clock, subject_id: int = 1) -> int:
    """Served 05-06, nobody speaks, the sweep lists on 05-13 (decided_list)."""
    case_id = open_and_serve(api, clock, subject_id)
    clock.set(at(2026, 5, 13))
    with app.app_context():
        assert sweep(db.session, runtime, commit=commit).fired == 1
    return case_id


def publish(api, clock, case_id: int) -> None:
    clock.set(at(2026, 5, 20))
    assert act(api.as_user("window"), case_id, "publish", repair_notice_served=True)["state"] == "listed"


def reference(api, case_id: int) -> str:
    return api.as_user("admin").get(f"/api/v1/cases/{case_id}").get_json()["reference"]


# --- the applicant's page -----------------------------------------------------------------------

def test_applicant_sees_own_objection_with_its_due_date_and_the_flagged_record(app, demo, api):
    case_id = open_objection_routed_to_market(api)  # 2026-04-13 (Mon): 7 WD → 04-22, provider 4 WD → 04-17
    ref = reference(api, case_id)
    page = html(as_user(app, "enterprise").get("/portal/objections-and-listings"))
    row = page.split(f'data-testid="objection-{case_id}"')[1].split("</tr>")[0]
    assert ref in row and f'href="/cases/{case_id}"' in row
    assert "提供单位协查" in row  # the state label
    assert "2026-04-22" in row and "剩余 7 个工作日" in row  # the overall decision limit
    assert "2026-04-17" in row and "剩余 4 个工作日" in row  # the provider's reply
    assert 'data-testid="flagged-record-2"' in page and "异议处理中" in page

    other = html(as_user(app, "person").get("/portal/objections-and-listings"))
    assert ref not in other and 'flagged-record-2' not in other


def test_applicant_sees_the_statement_period_and_then_that_it_closed(app, demo, api, clock, runtime):
    case_id = open_and_serve(api, clock)
    ref = reference(api, case_id)
    enterprise = as_user(app, "enterprise")
    row = html(enterprise.get("/portal/objections-and-listings")).split(f'data-testid="listing-{case_id}"')[1]
    row = row.split("</tr>")[0]
    assert ref in row and "陈述申辩期" in row
    assert "陈述申辩期至 2026-05-12 届满" in row
    assert f'href="/cases/{case_id}#actions"' in row and f'data-testid="file-statement-{case_id}"' in row
    # The case page the link goes to offers the statement form.
    assert 'data-testid="action-file_statement"' in html(enterprise.get(f"/cases/{case_id}"))
    assert ref not in html(as_user(app, "person").get("/portal/objections-and-listings"))

    clock.set(at(2026, 5, 13))
    with app.app_context():
        sweep(db.session, runtime, commit=commit)
    row = html(enterprise.get("/portal/objections-and-listings", query_string={"lang": "en"}))
    row = row.split(f'data-testid="listing-{case_id}"')[1].split("</tr>")[0]
    assert "The statement period closed on 2026-05-12" in row
    assert "file-statement" not in row
    assert "2026-05-22" in row and "7 working days left" in row  # publication: 7 WD from 05-13 (window)
    assert "2029-05-13" in row  # the listing term: 3 Y from the decision


@pytest.mark.parametrize("username", ["window", "reviewer", "market", "admin", "auditor"])
def test_staff_get_403_on_the_applicants_page(app, demo, username):
    assert as_user(app, username).get("/portal/objections-and-listings").status_code == 403


def test_visitors_are_sent_to_log_in(app, demo, client):
    response = client.get("/portal/objections-and-listings")
    assert response.status_code in (302, 401)


# --- the verification queue ---------------------------------------------------------------------

def test_provider_queue_shows_the_market_departments_request(app, demo, api):
    case_id = open_objection_routed_to_market(api)
    ref = reference(api, case_id)
    page = html(as_user(app, "market").get("/review/provider-queue"))
    rows = re.findall(r'data-testid="queue-row" data-case-id="(\d+)" data-kind="(\w+)"', page)
    assert rows == [(str(case_id), "provider_reply")]  # the window's decision clock is not the department's
    row = page.split('data-testid="queue-row"')[1].split("</tr>")[0]
    assert ref in row and "2026-04-17" in row and "市场监督管理局" in row
    assert re.search(r'data-testid="days-left">4<', row)
    assert "异议" in row and "威海文登示范建材有限公司" in row

    for username in ("reviewer", "head"):  # 执法局: unrelated to this request
        assert ref not in html(as_user(app, username).get("/review/provider-queue")), username
    for username in ("admin", "auditor"):
        assert ref in html(as_user(app, username).get("/review/provider-queue")), username
    assert as_user(app, "enterprise").get("/review/provider-queue").status_code == 403


def test_overdue_requests_come_first_with_negative_days_and_escalation(app, demo, api, clock, runtime):
    late = open_objection_routed_to_market(api)  # provider reply due 2026-04-17
    clock.set(at(2026, 4, 16))
    fresh = open_objection_routed_to_market(api, record_id=3, subject_id=2)  # due 2026-04-22
    clock.set(at(2026, 4, 21))
    with app.app_context():
        sweep(db.session, runtime, commit=commit)  # escalates the late reply to the provider's head
    page = html(as_user(app, "market").get("/review/provider-queue"))
    order = re.findall(r'data-testid="queue-row" data-case-id="(\d+)" data-kind="provider_reply" '
                       r'data-status="(\w+)"', page)
    assert order == [(str(late), "overdue"), (str(fresh), "at_risk")]
    first, second = page.split('data-testid="queue-row"')[1:3]
    assert re.search(r'data-testid="days-left">-2<', first)  # 04-20 and 04-21 have gone by
    assert re.search(r'data-testid="days-left">1<', second)
    assert 'data-testid="escalated"' in first and 'data-testid="escalated"' not in second


def test_listing_clocks_of_the_deciding_department_are_in_its_queue(app, demo, api, clock):
    case_id = open_and_serve(api, clock)
    clock.set(at(2026, 5, 11))
    act(api.as_user("enterprise"), case_id, "file_statement", statement="我司对事实有异议")
    page = html(as_user(app, "reviewer").get("/review/provider-queue"))
    assert f'data-case-id="{case_id}" data-kind="objection_answer"' in page  # 7 WD answer, 执法局
    assert f'data-case-id="{case_id}"' not in html(as_user(app, "market").get("/review/provider-queue"))


def test_provider_queue_uses_a_bounded_number_of_statements(app, demo, api, clock):
    def statements_for_page() -> int:
        browser = as_user(app, "admin")
        with app.app_context():
            engine = db.engine
        count = []

        def listener(*args) -> None:
            count.append(1)

        event.listen(engine, "before_cursor_execute", listener)
        try:
            html(browser.get("/review/provider-queue"))
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(count)

    open_objection_routed_to_market(api)
    one = statements_for_page()
    open_objection_routed_to_market(api, record_id=3, subject_id=2)
    listing = open_and_serve(api, clock)
    clock.set(at(2026, 5, 11))
    act(api.as_user("enterprise"), listing, "file_statement", statement="异议")
    assert statements_for_page() == one


# --- the public red and black lists -------------------------------------------------------------

def test_black_list_shows_a_company_only_while_published_and_in_force(app, demo, api, clock, runtime, client):
    case_id = list_without_statement(app, runtime, api, clock)
    ref = reference(api, case_id)
    assert ref not in html(client.get("/public/lists"))  # decided, not yet published

    publish(api, clock, case_id)
    page = html(client.get("/public/lists"))
    row = page.split(f'data-reference="{ref}"')[1].split("</tr>")[0]
    assert "威海文登示范建材有限公司" in row and "91371081MA3DEM001" in row
    assert "严重破坏市场公平竞争秩序" in row and "第二十九条" in row
    assert "2026-05-20" in row  # published
    assert "2029-05-13" in row  # planned end: 3 Y from the decision of 05-13
    assert ref in html(client.get("/public/lists", query_string={"q": "示范建材"}))
    assert ref in html(client.get("/public/lists", query_string={"q": "91371081ma3dem"}))
    assert ref not in html(client.get("/public/lists", query_string={"q": "不存在的公司"}))

    clock.set(at(2026, 6, 1))
    act(api.as_user("head"), case_id, "revoke", reason="原处罚决定经复议撤销")
    assert ref not in html(client.get("/public/lists"))


def test_black_list_never_shows_a_natural_person_even_when_listed(app, demo, api, clock, runtime, client):
    case_id = list_without_statement(app, runtime, api, clock, subject_id=3)
    publish(api, clock, case_id)
    person = api.as_user("admin").get(f"/api/v1/cases/{case_id}").get_json()
    assert person["state"] == "listed" and person["details"]["public"] is False
    page = html(client.get("/public/lists"))
    assert person["reference"] not in page and "张某" not in page
    assert 'data-testid="blacklist-empty"' in page
    searched = html(client.get("/public/lists", query_string={"q": "张某"}))
    searched = searched.split('data-testid="public-blacklist"')[1]
    assert "张某" not in searched and 'data-testid="blacklist-row"' not in searched


def test_red_list_shows_organisations_positive_records_only(app, demo, api, client):
    admin = api.as_user("admin")
    for subject_id, title in ((1, "守合同重信用企业"), (3, "无偿献血志愿者")):
        created = admin.post(f"/api/v1/subjects/{subject_id}/records", json={
            "kind": "positive", "title": title, "decided_on": "2026-03-01", "points": 10,
            "department_code": "market-regulation"})
        assert created.status_code == 201, created.get_json()
    future = admin.post("/api/v1/subjects/2/records", json={
        "kind": "positive", "title": "未来的表彰", "decided_on": "2026-12-01", "points": 5})
    assert future.status_code == 201
    page = html(client.get("/public/lists"))
    red = page.split('data-testid="public-redlist"')[1]
    assert "守合同重信用企业" in red and "威海文登示范建材有限公司" in red and "市场监督管理局" in red
    assert "无偿献血志愿者" not in page and "张某" not in page
    assert "未来的表彰" not in page  # not yet decided on the clock's day
    assert "违法建设行政处罚" not in red  # dishonesty records are not on the red list


def test_nav_links_follow_permissions(app, demo, client):
    visitor = html(client.get("/login"))
    assert 'data-testid="nav-public.lists"' in visitor and 'data-testid="nav-public.commitments"' in visitor
    enterprise = html(as_user(app, "enterprise").get("/portal"))
    assert 'data-testid="nav-portal.rights"' in enterprise
    assert 'data-testid="nav-review.provider_queue"' not in enterprise
    market = html(as_user(app, "market").get("/review"))
    assert 'data-testid="nav-review.provider_queue"' in market and 'data-testid="nav-portal.rights"' not in market
