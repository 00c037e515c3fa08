"""DOMAIN.md §10 S15 as the API reports it: 张某's 文登 score and grade on every date of the scenario,
read by staff through `GET /api/v1/subjects/<id>/score?at=…` (政务共享, with a purpose, logged).

The items are recorded through the engine (`record_item`: repeat doubling and validity come from the
catalogue rules; `apply_repair`: the direct D replaced by −50 for 2 years), exactly as the unit test
tests/unit/test_scoring_schemes.py does; here the figures come back over HTTP."""
from __future__ import annotations

from datetime import date

from models import Subject, db
from webapp.views.common import commit
from workflows.scoring import apply_repair, builtin_scheme_data, record_item

#: (date, score, grade as shown) — the closing note of issue 6 quotes this table.
S15_AS_THE_API_REPORTS_IT = [
    ("2026-03-01", 1000, "A"), ("2026-03-02", 980, "A"), ("2026-06-15", 940, "B"), ("2026-07-01", 950, "B"),
    ("2026-08-03", 599, "DB"), ("2026-10-11", 599, "DB"), ("2026-10-12", 900, "B"), ("2027-03-02", 900, "B"),
    ("2027-03-03", 920, "B"), ("2027-06-15", 920, "B"), ("2027-06-16", 960, "A"), ("2027-07-01", 960, "A"),
    ("2027-07-02", 950, "B"), ("2028-10-12", 950, "B"), ("2028-10-13", 1000, "A"),
]


def seed_row(name_zh: str) -> dict:
    rows = [i for i in builtin_scheme_data("wendeng")["items"] if i["name_zh"] == name_zh
            and "person" in i["subject_kinds"]]
    assert len(rows) == 1, name_zh
    return rows[0]


def test_s15_score_and_grade_on_every_date_through_the_api(app, demo, api):
    with app.app_context():
        zhang = Subject(kind="natural_person", name="张某", id_number="371081198503150018")
        db.session.add(zhang)
        db.session.flush()
        record_item(db.session, zhang, seed_row("处以较重罚款行政处罚的"), date(2026, 3, 2))
        record_item(db.session, zhang, seed_row("处以较重罚款行政处罚的"), date(2026, 6, 15))  # repeat: −40
        record_item(db.session, zhang, seed_row("无偿献血的（每次）"), date(2026, 7, 1))
        listed, _mirror = record_item(db.session, zhang, seed_row("被法院列为失信被执行人名单的"), date(2026, 8, 3))
        db.session.flush()
        apply_repair(db.session, listed, date(2026, 10, 12))
        commit()
        zhang_id = zhang.id

    window = api.as_user("window")
    reported = []
    for day, _score, _grade in S15_AS_THE_API_REPORTS_IT:
        response = window.get(f"/api/v1/subjects/{zhang_id}/score",
                              query_string={"at": day, "purpose": "行政许可信用核查（逢办必查）"})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["at"] == day
        reported.append((day, body["score"], body["grade_display"]))
    assert reported == S15_AS_THE_API_REPORTS_IT
