"""The server-rendered pages, driven through the Flask test client as the real roles.

The demo data (webapp/demo.py): record 1 is the company's 一般 record, repairable from 2026-04-13
(the fixed clock's day); record 2 is its 严重 record, repairable from 2027-08-11; record 4 belongs
to the natural person of user "person".
"""
from __future__ import annotations

import io
import os
import re
from datetime import datetime
from pathlib import Path

import pytest
from page_client import Browser, csrf_token_from
from werkzeug.datastructures import FileStorage

from models import Attachment, Case, CreditRecord, InboxMessage, Subject, User, db
from webapp.demo import PERSON_ID, _with_check
from webapp.views.common import commit, save_upload
from workflows.clock import BEIJING
from workflows.service import fire, open_case

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
HOLIDAYS_2027 = Path(__file__).resolve().parents[2] / "workflows" / "data" / "holidays-2027.example.json"
VERSION_RE = re.compile(r'name="expected_version" value="(\d+)"')


def as_user(app, username: str) -> Browser:
    browser = Browser(app)
    response = browser.login(username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser


def html(response) -> str:
    return response.get_data(as_text=True)


def pdf(name: str = "receipt.pdf", content: bytes = PDF):
    return (io.BytesIO(content), name)


def apply_for_repair(browser: Browser, record_id: int = 1, files: dict | None = None, **overrides):
    data = {"statement": "罚款已于2026年2月全部缴纳，违法建设已拆除。", "signer_name": "李某",
            "commitment_accepted": "on", "contact_phone": "0631-0000000", **overrides}
    url = f"/portal/records/{record_id}/repair"
    return browser.post_form(url, url, {**data, **(files or {})}, content_type="multipart/form-data")


def act(browser: Browser, case_id: int, trigger: str, data: dict | None = None, expected_version: int | None = None):
    """Post one action form the way the case page does: its CSRF token and the version it showed."""
    page = html(browser.get(f"/cases/{case_id}"))
    version = expected_version if expected_version is not None else int(VERSION_RE.search(page).group(1))
    return browser.client.post(f"/cases/{case_id}/actions/{trigger}", data={
        **(data or {}), "expected_version": str(version), "csrf_token": csrf_token_from(page)})


def case_state(app, case_id: int) -> str:
    with app.app_context():
        return db.session.get(Case, case_id).state


def engine_case(app, username: str, record_id: int, submit: bool = False, proof: bool = False) -> int:
    """Open (and optionally submit, with the proof of performance) a repair case through the engine."""
    with app.app_context():
        runtime = app.extensions["creditdesk"]
        user = db.session.execute(db.select(User).where(User.username == username)).scalar_one()
        record = db.session.get(CreditRecord, record_id)
        case = open_case("credit_repair", record.subject, user, {"record_id": record_id}, runtime=runtime)
        if proof:
            save_upload(case, "fulfilment_proof", FileStorage(io.BytesIO(PDF), "receipt.pdf"), user, runtime)
        if submit:
            fire(case, "submit", user, {"statement": "已纠正并履行全部义务。", "signer_name": "签名人",
                                        "commitment_accepted": True}, runtime=runtime)
        commit()
        return case.id


# --- log-in --------------------------------------------------------------------------------------

def test_login_wrong_password_shows_the_error(app, demo, browser):
    page = html(browser.get("/login"))
    response = browser.client.post("/login", data={"username": "enterprise", "password": "wrong-password",
                                                   "csrf_token": csrf_token_from(page)})
    assert response.status_code == 401
    assert "用户名或密码错误" in html(response)
    assert '<meta charset="utf-8">' in html(response)


@pytest.mark.parametrize("username, home", [("enterprise", "/portal"), ("person", "/portal"),
                                            ("window", "/review"), ("reviewer", "/review"),
                                            ("auditor", "/review"), ("admin", "/admin")])
def test_login_redirects_by_role(app, demo, username, home):
    browser = as_user(app, username)
    response = browser.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(home)
    assert browser.get(home).status_code == 200


def test_pages_need_a_login(app, demo, client):
    for url in ("/portal", "/review", "/admin", "/messages", "/cases/1"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


# --- portal --------------------------------------------------------------------------------------

def test_portal_lists_own_subjects_and_records_with_eligible_dates(app, demo):
    page = html(as_user(app, "enterprise").get("/portal"))
    assert "威海文登示范建材有限公司" in page and "文登区示范食品商行" in page
    assert "违法建设行政处罚（较重罚款）" in page and "生产销售不合格产品（吊销许可）" in page
    assert "2026-04-13" in page and "2027-08-11" in page
    assert 'data-testid="apply-1"' in page          # repairable today
    assert 'data-testid="apply-2"' not in page      # not before 2027-08-11...
    assert 'data-testid="not-yet-2"' in page        # ...and the page says when
    assert "占道经营" not in page and "张某" not in page  # the natural person's record is not ours


def test_portal_is_for_applicants(app, demo):
    assert as_user(app, "window").get("/portal").status_code == 403


def test_natural_person_sees_own_full_id_and_staff_see_it_masked(app, demo):
    full_id = _with_check(PERSON_ID, "id")
    assert full_id in html(as_user(app, "person").get("/portal"))
    case_id = engine_case(app, "person", 4)
    assert full_id in html(as_user(app, "person").get(f"/cases/{case_id}"))
    staff_page = html(as_user(app, "window").get(f"/cases/{case_id}"))
    assert full_id not in staff_page and full_id[:4] + "*" in staff_page
    assert full_id in html(as_user(app, "admin").get(f"/cases/{case_id}"))


def test_repair_form_shows_record_regime_commitment_and_materials(app, demo):
    page = html(as_user(app, "enterprise").get("/portal/records/1/repair"))
    assert "国家发展改革委令第36号" in page
    assert "2026-04-13" in page
    assert "信用承诺书" in page and "威海文登示范建材有限公司" in page and "如违反承诺或提供虚假材料" in page
    for name in ("statement", "signer_name", "commitment_accepted", "contact_phone", "file_fulfilment_proof"):
        assert f'name="{name}"' in page, name
    assert 'name="file_credit_report"' not in page  # only a serious record needs a credit report
    serious = html(as_user(app, "enterprise").get("/portal/records/2/repair"))
    assert 'name="file_credit_report"' in serious and 'data-testid="not-yet"' in serious


def test_early_application_is_refused_with_the_date_it_becomes_possible(app, demo):
    browser = as_user(app, "enterprise")
    response = apply_for_repair(browser, 2, files={"file_fulfilment_proof": pdf()}, statement="提前申请的说明文字")
    assert response.status_code == 409
    page = html(response)
    assert 'data-testid="alert"' in page and "2027-08-11" in page
    assert "提前申请的说明文字" in page  # what the user typed is kept
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Case.id))).scalar() == 0
        assert db.session.execute(db.select(db.func.count(Attachment.id))).scalar() == 0
    assert not os.listdir(app.config["UPLOAD_DIR"])  # the rolled-back upload left no file behind


def test_repair_form_field_errors_are_shown_beside_the_fields(app, demo):
    response = apply_for_repair(as_user(app, "enterprise"), 1, statement="短", commitment_accepted="")
    assert response.status_code == 422
    page = html(response)
    assert 'data-testid="error-statement"' in page
    assert 'data-testid="error-commitment_accepted"' in page and "须阅读并签署信用承诺书" in page
    assert 'value="李某"' in page


def test_other_applicants_record_form_is_not_found(app, demo):
    assert as_user(app, "enterprise").get("/portal/records/4/repair").status_code == 404


# --- the whole journey ---------------------------------------------------------------------------

def test_full_repair_journey_through_the_pages(app, demo):
    enterprise = as_user(app, "enterprise")
    response = apply_for_repair(enterprise, 1, files={"file_fulfilment_proof": pdf("罚款缴纳凭证.pdf")})
    assert response.status_code == 302
    case_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = html(enterprise.get(f"/cases/{case_id}"))
    assert "已提交待预审" in page and "XF-2026-" in page and "文登区综合行政执法局" in page
    assert "罚款缴纳凭证.pdf" in page and 'data-testid="deadline-result"' in page
    attachment_id = int(re.search(r'data-testid="download-(\d+)"', page).group(1))
    download = enterprise.get(f"/cases/{case_id}/attachments/{attachment_id}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF-")
    assert download.headers["Content-Type"] == "application/pdf"
    assert "attachment" in download.headers["Content-Disposition"]

    window = as_user(app, "window")
    assert 'data-testid="action-push"' in html(window.get(f"/cases/{case_id}"))
    assert act(window, case_id, "push", {"note": "材料齐全"}).status_code == 302
    assert case_state(app, case_id) == "pushed"

    reviewer = as_user(app, "reviewer")
    assert act(reviewer, case_id, "accept").status_code == 302
    assert act(reviewer, case_id, "approve", {"note": "符合修复条件"}).status_code == 302
    assert case_state(app, case_id) == "syncing"
    assert act(window, case_id, "confirm_sync", {"note": "已同步"}).status_code == 302
    assert case_state(app, case_id) == "monitoring"

    page = html(enterprise.get(f"/cases/{case_id}"))
    assert "已修复·承诺监督期" in page
    for label in ("提出申请", "提交申请", "预审通过，推送认定单位", "受理", "准予修复", "确认已同步各平台"):
        assert label in page, label
    portal = html(enterprise.get("/portal"))
    row = re.search(r'data-testid="record-1".*?</tr>', portal, re.DOTALL).group(0)
    assert "已修复" in row and 'data-testid="apply-1"' not in row

    messages = enterprise.get("/messages")
    assert "准予信用修复" in html(messages) and 'class="unread"' in html(messages)
    assert 'class="unread"' not in html(enterprise.get("/messages"))  # marked read when viewed
    with app.app_context():
        clerk = db.session.execute(db.select(User).where(User.username == "enterprise")).scalar_one()
        assert db.session.execute(db.select(InboxMessage).where(InboxMessage.read_at.is_(None),
                                                                InboxMessage.user_id == clerk.id)).first() is None


def test_return_for_supplement_then_upload_and_resubmit(app, demo):
    enterprise = as_user(app, "enterprise")
    response = apply_for_repair(enterprise, 1)  # no proof attached: allowed, the window will ask
    assert response.status_code == 302
    case_id = int(response.headers["Location"].rsplit("/", 1)[1])

    window = as_user(app, "window")
    blocked = html(window.get(f"/cases/{case_id}"))
    assert 'data-testid="action-blocked-push"' in blocked and "材料不齐" in blocked
    response = act(window, case_id, "return_for_supplement",
                   {"missing": ["fulfilment_proof"], "reason": "请上传罚款缴纳凭证"})
    assert response.status_code == 302
    assert case_state(app, case_id) == "returned_for_supplement"

    page = html(enterprise.get(f"/cases/{case_id}"))
    assert 'data-testid="missing-list"' in page and 'data-testid="missing-fulfilment_proof"' in page
    assert "请上传罚款缴纳凭证" in page
    assert 'data-testid="action-blocked-resubmit"' in page and "仍缺少材料" in page
    assert 'data-testid="upload-form"' in page
    assert "暂停计时" in page  # the overall clock stops while the applicant supplements

    url = f"/cases/{case_id}"
    response = enterprise.post_form(url, f"{url}/attachments",
                                    {"material_key": "fulfilment_proof", "file": pdf()},
                                    content_type="multipart/form-data")
    assert response.status_code == 302
    assert 'data-testid="action-resubmit"' in html(enterprise.get(url))
    assert act(enterprise, case_id, "resubmit", {"note": "已补充缴费凭证"}).status_code == 302
    assert case_state(app, case_id) == "submitted"
    assert act(window, case_id, "push").status_code == 302


# --- errors shown where they happen ---------------------------------------------------------------

def test_form_post_without_csrf_token_is_refused(app, demo):
    case_id = engine_case(app, "enterprise", 1, submit=True)
    window = as_user(app, "window")
    response = window.client.post(f"/cases/{case_id}/actions/push", data={"expected_version": "2"})
    assert response.status_code == 400
    assert case_state(app, case_id) == "submitted"


def test_stale_expected_version_is_shown_inline(app, demo):
    case_id = engine_case(app, "enterprise", 1, submit=True)
    window = as_user(app, "window")
    response = act(window, case_id, "return_for_supplement",
                   {"missing": ["fulfilment_proof"], "reason": "请补充材料说明"}, expected_version=1)
    assert response.status_code == 409
    page = html(response)
    assert 'data-testid="alert"' in page and "案件已被他人更新" in page
    assert 'data-testid="case-header"' in page          # the case page, not a bare error page
    assert "请补充材料说明" in page                         # the typed reason is kept for a retry
    with app.app_context():
        current = db.session.get(Case, case_id).version
    assert f'name="expected_version" value="{current}"' in page
    assert case_state(app, case_id) == "submitted"


def test_invalid_action_input_shows_the_field_error_next_to_the_field(app, demo):
    case_id = engine_case(app, "enterprise", 1, submit=True, proof=True)
    assert act(as_user(app, "window"), case_id, "push").status_code == 302
    reviewer = as_user(app, "reviewer")
    assert act(reviewer, case_id, "accept").status_code == 302
    response = act(reviewer, case_id, "reject", {})
    assert response.status_code == 422
    page = html(response)
    form = re.search(r'<form[^>]*data-testid="action-reject".*?</form>', page, re.DOTALL).group(0)
    assert 'data-testid="error-reject-reason"' in form and "必填" in form and " failed" in form
    approve = re.search(r'<form[^>]*data-testid="action-approve"', page).group(0)
    assert " failed" not in approve  # only the form that was posted is marked
    assert case_state(app, case_id) == "under_review"


def test_blocked_transition_is_shown_inline_with_reasons(app, demo):
    case_id = engine_case(app, "enterprise", 1, submit=True)  # no proof uploaded
    response = act(as_user(app, "window"), case_id, "push")
    assert response.status_code == 409
    page = html(response)
    assert 'data-testid="alert-reasons"' in page and "材料不齐" in page


def test_actions_of_another_role_are_forbidden_inline(app, demo):
    case_id = engine_case(app, "enterprise", 1, submit=True)
    response = act(as_user(app, "enterprise"), case_id, "push")
    assert response.status_code == 403
    assert 'data-testid="alert"' in html(response) and 'data-testid="case-header"' in html(response)


# --- who may see what ------------------------------------------------------------------------------

def test_enterprise_cannot_see_a_case_of_another_applicants_subject(app, demo):
    case_id = engine_case(app, "person", 4)
    enterprise = as_user(app, "enterprise")
    assert enterprise.get(f"/cases/{case_id}").status_code == 404
    page = html(enterprise.get("/portal"))
    response = enterprise.client.post(f"/cases/{case_id}/actions/withdraw",
                                      data={"csrf_token": csrf_token_from(page), "expected_version": "1"})
    assert response.status_code == 404
    assert as_user(app, "person").get(f"/cases/{case_id}").status_code == 200
    # The market regulator's reviewer does not see a law-enforcement case either.
    assert as_user(app, "market").get(f"/cases/{case_id}").status_code == 404


def test_auditor_reads_a_case_without_actions(app, demo):
    case_id = engine_case(app, "enterprise", 1, submit=True)
    page = html(as_user(app, "auditor").get(f"/cases/{case_id}"))
    assert 'data-testid="no-actions"' in page and "<form method=\"post\" action=\"/cases/" not in page


def test_applicant_cannot_open_the_inbox_and_non_admins_cannot_open_admin(app, demo):
    assert as_user(app, "enterprise").get("/review").status_code == 403
    for username in ("enterprise", "window", "reviewer", "auditor"):
        browser = as_user(app, username)
        assert browser.get("/admin").status_code == 403, username
        assert browser.get("/admin/calendar/2026").status_code == 403, username
    window = as_user(app, "window")
    page = html(window.get("/review"))
    response = window.client.post("/admin/users", data={"csrf_token": csrf_token_from(page), "username": "x",
                                                         "password": "12345678", "role": "admin"})
    assert response.status_code == 403


def test_attachment_of_an_invisible_case_is_not_found(app, demo):
    person = as_user(app, "person")
    case_id = engine_case(app, "person", 4)
    url = f"/cases/{case_id}"
    assert person.post_form(url, f"{url}/attachments", {"material_key": "fulfilment_proof", "file": pdf()},
                            content_type="multipart/form-data").status_code == 302
    with app.app_context():
        attachment_id = db.session.execute(db.select(Attachment.id)).scalar_one()
    assert person.get(f"{url}/attachments/{attachment_id}").status_code == 200
    assert as_user(app, "enterprise").get(f"{url}/attachments/{attachment_id}").status_code == 404


# --- uploads -------------------------------------------------------------------------------------

def test_a_text_file_is_refused_with_the_allowed_types(app, demo):
    response = apply_for_repair(as_user(app, "enterprise"), 1,
                                files={"file_fulfilment_proof": (io.BytesIO(b"just text"), "receipt.txt")})
    assert response.status_code == 422
    page = html(response)
    assert "仅限 PDF、PNG、JPEG" in page and 'data-testid="error-file_fulfilment_proof"' in page
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Case.id))).scalar() == 0


class TestUploadLimit:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "RULE_OVERRIDES": {"uploads.max_bytes": 1000}}

    def test_a_file_over_the_limit_is_refused_with_the_limit_shown(self, app, demo):
        browser = as_user(app, "enterprise")
        assert "1000 B" in html(browser.get("/portal/records/1/repair"))
        response = apply_for_repair(browser, 1, files={"file_fulfilment_proof": pdf(content=PDF + b"0" * 2000)})
        assert response.status_code == 422
        page = html(response)
        assert "文件过大" in page and "1000 B" in page
        assert 'data-testid="error-file_fulfilment_proof"' in page
        with app.app_context():
            assert db.session.execute(db.select(db.func.count(Case.id))).scalar() == 0

    def test_the_case_page_upload_refuses_it_too(self, app, demo):
        case_id = engine_case(app, "enterprise", 1)
        url = f"/cases/{case_id}"
        browser = as_user(app, "enterprise")
        response = browser.post_form(url, f"{url}/attachments",
                                     {"material_key": "fulfilment_proof", "file": pdf(content=PDF + b"0" * 2000)},
                                     content_type="multipart/form-data")
        assert response.status_code == 422
        page = html(response)
        assert "1000 B" in page and 'data-testid="error-file"' in page and 'data-testid="case-header"' in page


# --- admin ---------------------------------------------------------------------------------------

def test_admin_loads_a_calendar_year_and_views_it(app, demo):
    admin = as_user(app, "admin")
    missing = admin.get("/admin/calendar/2027")
    assert missing.status_code == 404
    assert "2027年节假日安排尚未加载" in html(missing)
    assert "holiday table for 2027 is not loaded" in html(admin.get("/admin/calendar/2027?lang=en"))

    bad = admin.post_form("/admin", "/admin/calendar", {"holiday_file": (io.BytesIO(b"{not json"), "bad.json")},
                          content_type="multipart/form-data")
    assert bad.status_code == 422 and 'data-testid="calendar-error"' in html(bad) and "JSON" in html(bad)

    with HOLIDAYS_2027.open("rb") as fh:
        response = admin.post_form("/admin", "/admin/calendar", {"holiday_file": (fh, HOLIDAYS_2027.name)},
                                   content_type="multipart/form-data")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/calendar/2027")
    page = html(admin.get("/admin/calendar/2027"))
    assert "2027-01-31" in page and "2027-10-07" in page
    assert 'data-day="2027-02-20" data-kind="makeup"' in page
    assert 'data-day="2027-10-01" data-kind="rest"' in page
    assert "2027*" in html(admin.get("/admin"))


def test_admin_creates_a_user_and_errors_are_shown_beside_the_fields(app, demo):
    admin = as_user(app, "admin")
    page = html(admin.get("/admin"))
    for section in ("users", "departments", "calendar", "clock", "outbox"):
        assert f'data-testid="{section}"' in page, section
    bad = admin.post_form("/admin", "/admin/users", {"username": "enterprise", "password": "short",
                                                     "role": "reviewer", "subjects": "NOPE"})
    assert bad.status_code == 422
    bad_page = html(bad)
    assert 'data-testid="error-password"' in bad_page and "密码至少8位" in bad_page
    assert 'value="enterprise"' in bad_page  # what was typed is kept (the password is not echoed)
    with app.app_context():
        uscc = db.session.get(Subject, 2).uscc
    good = admin.post_form("/admin", "/admin/users", {"username": "shopclerk", "password": "Shop#2026x",
                                                      "role": "applicant", "subjects": uscc,
                                                      "email": "clerk@shop.example.cn"})
    assert good.status_code == 302
    taken = admin.post_form("/admin", "/admin/users", {"username": "shopclerk", "password": "Shop#2026x",
                                                       "role": "applicant"})
    assert taken.status_code == 422 and "该用户名已存在" in html(taken)
    shop_clerk = Browser(app)
    assert shop_clerk.login("shopclerk", "Shop#2026x").status_code == 302
    portal = html(shop_clerk.get("/portal"))
    assert "文登区示范食品商行" in portal and "威海文登示范建材有限公司" not in portal


def test_admin_page_shows_the_clock_and_runs_a_sweep(app, demo):
    admin = as_user(app, "admin")
    page = html(admin.get("/admin"))
    assert "2026-04-13 09:00:00" in page
    assert 'data-testid="clock-form"' not in page  # the fixed test clock is not adjustable
    response = admin.post_form("/admin", "/admin/sweep", {})
    assert response.status_code == 302
    assert "扫描完成" in html(admin.get("/admin"))


# --- the reviewer inbox ----------------------------------------------------------------------------

def test_inbox_orders_by_time_left_and_marks_overdue(app, demo, clock):
    later = engine_case(app, "person", 4)                   # submitted later: due last of the two
    earlier = engine_case(app, "enterprise", 1, submit=True)  # submitted 2026-04-13
    draft = engine_case(app, "enterprise", 2)               # a draft has no clock: listed last
    clock.set(datetime(2026, 6, 5, 9, 0, tzinfo=BEIJING))
    with app.app_context():
        runtime = app.extensions["creditdesk"]
        person = db.session.execute(db.select(User).where(User.username == "person")).scalar_one()
        fire(later, "submit", person, {"statement": "已缴纳全部罚款。", "signer_name": "张某",
                                       "commitment_accepted": True}, runtime=runtime)
        commit()

    window = as_user(app, "window")
    # Each submission also opened a credit commitment (listed in the window's inbox too): look at repairs.
    page = html(window.get("/review?case_type=credit_repair"))
    rows = re.findall(r'data-testid="inbox-row" data-case-id="(\d+)" data-status="(\w+)"', page)
    assert rows == [(str(earlier), "overdue"), (str(later), "on_track"), (str(draft), "none")]
    assert re.search(r'data-testid="count-overdue"[^>]*>\s*<strong>1</strong>', page)
    assert re.search(r'data-testid="count-on_track"[^>]*>\s*<strong>1</strong>', page)

    only_overdue = html(window.get("/review?status=overdue&case_type=credit_repair"))
    assert re.findall(r'data-case-id="(\d+)"', only_overdue) == [str(earlier)]
    by_subject = html(window.get("/review?subject=张某&case_type=credit_repair"))
    assert re.findall(r'data-case-id="(\d+)"', by_subject) == [str(later)]
    by_state = html(window.get("/review?state=draft&case_type=credit_repair"))
    assert re.findall(r'data-case-id="(\d+)"', by_state) == [str(draft)]
    by_department = html(window.get("/review?department=market-regulation"))
    assert re.findall(r'data-case-id="(\d+)"', by_department) == [str(draft)]

    # A department's reviewer sees only its own department's cases.
    market = html(as_user(app, "market").get("/review"))
    assert re.findall(r'data-case-id="(\d+)"', market) == [str(draft)]


def test_closed_cases_leave_the_inbox(app, demo):
    case_id = engine_case(app, "enterprise", 1, submit=True)
    assert act(as_user(app, "enterprise"), case_id, "withdraw", {"reason": "暂不申请"}).status_code == 302
    page = html(as_user(app, "window").get("/review"))
    assert f'data-case-id="{case_id}"' not in page and 'data-testid="inbox-empty"' in page


def test_pages_switch_to_english(app, demo):
    browser = as_user(app, "enterprise")
    page = html(browser.get("/portal?lang=en"))
    assert "My subjects and cases" in page and "Apply for repair" in page
