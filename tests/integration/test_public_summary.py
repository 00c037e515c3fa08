"""The public credit summary of an organisation (/public/subjects/<uscc>), its search and its QR
code 信用名片, driven without logging in (DOMAIN.md §9.3: 公开公示 only; SD-Cond §20: never a
natural person).

Demo data (webapp/demo.py): subject 1 is the company (record 1: 一般, decided 2026-01-12; record 2:
严重, decided 2026-08-10), subject 2 the shop (a 轻微 record), subject 3 the natural person 张某.
The clock starts on 2026-04-13.
"""
from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timezone

import pytest
import segno

from models import CreditRecord, Subject, User, db
from models.score_store import ScoreDirty, SubjectScore
from webapp.views.common import commit
from workflows.clock import BEIJING
from workflows.service import fire, open_case
from workflows.sweep import sweep

COMPANY = "威海文登示范建材有限公司"


def at(y, m, d, h=9):
    return datetime(y, m, d, h, tzinfo=BEIJING)


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def subject_codes(app) -> dict[int, str | None]:
    with app.app_context():
        return {s.id: (s.uscc or s.id_number) for s in db.session.execute(db.select(Subject)).scalars()}


def section(page: str, testid: str) -> str:
    return page.split(f'data-testid="{testid}"')[1].split("</section>")[0]


def add_record(api, subject_id: int, title: str, decided_on: str, severity: str = "general", **extra) -> int:
    created = api.as_user("admin").post(f"/api/v1/subjects/{subject_id}/records", json={
        "kind": "dishonesty", "title": title, "severity": severity, "decided_on": decided_on, "points": -10,
        "department_code": "law-enforcement", **extra})
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"]


def update_record(app, record_id: int, **values) -> None:
    with app.app_context():
        record = db.session.get(CreditRecord, record_id)
        for key, value in values.items():
            setattr(record, key, value)
        commit()


# --- never a natural person --------------------------------------------------------------------

def test_a_natural_person_is_404_by_id_number_and_never_found_by_search(app, demo, client):
    person_id = subject_codes(app)[3]
    for code in (person_id, person_id.lower(), "3"):
        assert client.get(f"/public/subjects/{code}").status_code == 404
        assert client.get(f"/public/subjects/{code}/qr.svg").status_code == 404
        assert client.get(f"/public/subjects/{code}/card").status_code == 404
    for needle in ("张某", person_id, person_id.lower(), "张"):
        page = html(client.get("/public/search", query_string={"q": needle}))
        assert 'data-testid="search-row"' not in page and "张某" not in page.split('data-testid="search-results"')[1]
        assert 'data-testid="search-empty"' in page


def test_a_natural_person_with_a_code_in_the_uscc_column_is_still_404(app, demo, client):
    # Whatever ends up in the column (an imported 个体户 operator, a data error), the kind decides.
    with app.app_context():
        db.session.get(Subject, 3).uscc = "92371081MA3PERS0NX"[:18]
        commit()
    assert client.get("/public/subjects/92371081MA3PERS0NX").status_code == 404
    assert client.get("/public/subjects/92371081MA3PERS0NX/qr.svg").status_code == 404
    page = html(client.get("/public/search", query_string={"q": "92371081MA3PERS"}))
    assert 'data-testid="search-row"' not in page and "张某" not in page


# --- search ------------------------------------------------------------------------------------

def test_search_by_name_or_partial_uscc_links_to_the_summary(app, demo, client):
    codes = subject_codes(app)
    by_name = html(client.get("/public/search", query_string={"q": "示范建材"}))
    assert f'data-uscc="{codes[1]}"' in by_name and f'data-uscc="{codes[2]}"' not in by_name
    assert f'href="/public/subjects/{codes[1]}"' in by_name
    by_code = html(client.get("/public/search", query_string={"q": codes[2][:12].lower()}))
    assert f'data-uscc="{codes[2]}"' in by_code and f'data-uscc="{codes[1]}"' not in by_code
    assert 'data-testid="search-row"' not in html(client.get("/public/search", query_string={"q": "不存在的公司"}))


def test_visitors_see_the_search_in_the_header(app, demo, client):
    assert 'data-testid="nav-public_subjects.search"' in html(client.get("/login"))


# --- what the summary shows ---------------------------------------------------------------------

def test_summary_shows_registration_and_the_published_record_only(app, demo, client):
    codes = subject_codes(app)
    page = html(client.get(f"/public/subjects/{codes[1].lower()}"))  # the code is case-insensitive
    assert COMPANY in page and codes[1] in page
    assert '<dd data-testid="legal-representative">李某</dd>' in page  # public registration information
    records = section(page, "summary-records")
    assert 'data-record-id="1"' in records and "违法建设行政处罚" in records
    assert "2027-01-12" in records  # 一般: published at most 1 Y from 2026-01-12
    assert 'data-record-id="2"' not in records  # decided 2026-08-10: not yet
    assert 'data-testid="under-objection"' not in records
    shop = html(client.get(f"/public/subjects/{codes[2]}"))
    assert 'data-testid="no-public-records"' in shop  # 轻微: not published
    assert "张某" not in page and codes[3] not in page


def test_repaired_revoked_expired_records_are_hidden_and_objections_labelled(app, demo, api, client, clock):
    repaired = add_record(api, 1, "已修复的处罚", "2026-02-02")
    revoked = add_record(api, 1, "已撤销的处罚", "2026-02-03")
    expired = add_record(api, 1, "公示期已满的处罚", "2025-01-10")
    update_record(app, repaired, status="repaired", repaired_on=date(2026, 4, 10))
    update_record(app, revoked, status="revoked")
    update_record(app, 1, under_objection=True)
    codes = subject_codes(app)
    records = section(html(client.get(f"/public/subjects/{codes[1]}")), "summary-records")
    assert "已修复的处罚" not in records and "已撤销的处罚" not in records
    assert "公示期已满的处罚" not in records  # 一般: 1 Y from 2025-01-10 ended 2026-01-10
    row = records.split('data-record-id="1"')[1].split("</tr>")[0]
    assert 'data-testid="under-objection"' in row and "异议处理中" in row

    clock.set(at(2026, 8, 11))
    records = section(html(client.get(f"/public/subjects/{codes[1]}")), "summary-records")
    assert 'data-record-id="2"' in records and "严重" in records
    assert "2029-08-10" in records  # 严重: 3 Y


def test_summary_shows_published_commitments_and_list_entries(app, demo, api, client, clock, runtime):
    with app.app_context():
        applicant = db.session.execute(db.select(User).where(User.username == "enterprise")).scalar_one()
        window = db.session.execute(db.select(User).where(User.username == "window")).scalar_one()
        case = open_case("credit_commitment", db.session.get(Subject, 1), applicant,
                         {"commitment_type": "voluntary", "matter": "依法诚信经营，不销售不合格建材"}, runtime=runtime)
        fire(case, "sign", applicant, {"signer_name": "李某", "commitment_accepted": True}, runtime=runtime)
        fire(case, "publish", window, {}, runtime=runtime)
        unpublished = open_case("credit_commitment", db.session.get(Subject, 1), applicant,
                                {"commitment_type": "voluntary", "matter": "尚未签署的承诺"}, runtime=runtime)
        commit()
        reference, draft_reference = case.reference, unpublished.reference
    honour = api.as_user("admin").post("/api/v1/subjects/1/records", json={
        "kind": "positive", "title": "守合同重信用企业", "decided_on": "2026-03-01", "points": 10,
        "department_code": "market-regulation"})
    assert honour.status_code == 201

    codes = subject_codes(app)
    page = html(client.get(f"/public/subjects/{codes[1]}"))
    commitments = section(page, "summary-commitments")
    assert f'data-reference="{reference}"' in commitments and "不销售不合格建材" in commitments
    assert draft_reference not in page
    lists = section(page, "summary-lists")
    assert 'data-testid="summary-redlist"' in lists and "守合同重信用企业" in lists
    assert 'data-testid="not-blacklisted"' in lists

    # 严重失信主体名单: served 05-06, listed by the sweep 05-13, published 05-20 (as test_list_pages).
    clock.set(at(2026, 5, 6))
    created = api.as_user("reviewer").post("/api/v1/cases", json={"case_type": "blacklist", "subject_id": 1, "data": {
        "criteria_key": "unfair_competition", "facts": "串通投标，严重破坏市场公平竞争秩序", "act_ended_on": "2026-03-02"}})
    assert created.status_code == 201, created.get_json()
    listing = created.get_json()["id"]
    assert api.as_user("head").post(f"/api/v1/cases/{listing}/actions/approve_proposal",
                                    json={"data": {"note": "同意"}}).status_code == 200
    clock.set(at(2026, 5, 13))
    with app.app_context():
        assert sweep(db.session, runtime, commit=commit).fired == 1
    assert 'data-testid="summary-blacklist"' not in html(client.get(f"/public/subjects/{codes[1]}"))  # not published
    clock.set(at(2026, 5, 20))
    assert api.as_user("window").post(f"/api/v1/cases/{listing}/actions/publish",
                                      json={"data": {"repair_notice_served": True}}).status_code == 200
    lists = section(html(client.get(f"/public/subjects/{codes[1]}")), "summary-lists")
    assert 'data-testid="summary-blacklist"' in lists and "2029-05-13" in lists and "第二十九条" in lists
    assert 'data-testid="not-blacklisted"' not in lists
    card = html(client.get(f"/public/subjects/{codes[1]}/card"))
    assert "已列入严重失信主体名单" in card


def test_grade_comes_from_the_score_store_when_current_else_from_the_records(app, demo, client):
    codes = subject_codes(app)
    assert "<strong>A</strong>" in section(html(client.get(f"/public/subjects/{codes[1]}")), "summary-basic")
    with app.app_context():
        db.session.execute(db.delete(ScoreDirty))
        db.session.add(SubjectScore(subject_id=1, scheme="wendeng", score=900, grade="B", grade_label="B",
                                    direct_grade=None, active_items=1, version=1, as_of=date(2026, 4, 13),
                                    computed_at=datetime(2026, 4, 13, 1, tzinfo=timezone.utc)))
        commit()
    assert "<strong>B</strong>" in section(html(client.get(f"/public/subjects/{codes[1]}")), "summary-basic")
    with app.app_context():
        db.session.add(ScoreDirty(subject_id=1, since=datetime(2026, 4, 13, 2, tzinfo=timezone.utc)))
        commit()
    # Queued for recomputation: the stored row is stale, the live grade is shown.
    assert "<strong>A</strong>" in section(html(client.get(f"/public/subjects/{codes[1]}")), "summary-basic")


# --- QR code and card ---------------------------------------------------------------------------

def svg_path(svg: bytes) -> str:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    paths = [el.get("d") for el in root.iter("{http://www.w3.org/2000/svg}path")]
    assert len(paths) == 1 and paths[0]
    return paths[0]


def expected_qr_path(url: str) -> str:
    """Regenerate the code independently with segno and take its module path."""
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="svg", scale=6, border=4)
    return svg_path(out.getvalue())


def test_qr_svg_is_valid_svg_encoding_the_summary_url(app, demo, client):
    uscc = subject_codes(app)[2]
    response = client.get(f"/public/subjects/{uscc}/qr.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    url = f"http://localhost/public/subjects/{uscc}"
    assert svg_path(response.data) == expected_qr_path(url)
    assert svg_path(response.data) != expected_qr_path(url + "X")  # the comparison can fail
    page = html(client.get(f"/public/subjects/{uscc}"))
    assert f'src="/public/subjects/{uscc}/qr.svg"' in page and f'href="/public/subjects/{uscc}/card"' in page


def test_printable_card_names_the_shop_and_points_at_the_configured_public_address(app, demo, client):
    app.config["CREDITDESK_BASE_URL"] = "https://credit.wendeng.gov.cn/"
    uscc = subject_codes(app)[2]
    card = html(client.get(f"/public/subjects/{uscc}/card"))
    url = f"https://credit.wendeng.gov.cn/public/subjects/{uscc}"
    assert "文登区示范食品商行" in card and uscc in card
    assert re.search(r'data-testid="card-url">\s*' + re.escape(url) + r"\s*<", card)
    assert f'src="/public/subjects/{uscc}/qr.svg"' in card and 'data-testid="card-grade"' in card
    assert svg_path(client.get(f"/public/subjects/{uscc}/qr.svg").data) == expected_qr_path(url)


@pytest.mark.parametrize("path", ["/public/subjects/91371081MA3NOPE00X", "/public/subjects/91371081MA3NOPE00X/card"])
def test_unknown_codes_are_404(app, demo, client, path):
    assert client.get(path).status_code == 404
