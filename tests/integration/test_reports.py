"""Supervision reports through the API, the CSV downloads and the dashboard page, as the real roles.

双公示 timeliness on a known set of decisions around the 2026 holidays (7 WD, DOMAIN.md §9.1); case
time limits from objections driven through the API; the grade distribution; 信用分级分类监管 with a
spot-check draw that is recorded, reproducible from its seed, sized by the class ratios and never
redrawn (§9.2); future periods refused 422; CSV with a BOM; department scoping; applicants 403.
"""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from page_client import Browser, csrf_token_from
from report_data import (PUBLICATIONS, add_graded_organisations, add_person_record, add_publication_records, at,
                         drive_objections)

from models import SpotCheckPlan, db
from webapp.views.common import commit
from workflows.reports import classify_publication, draw_sample, population_sha256

PERIOD = "from=2026-01&to=2026-04"


def report(client, name: str, query: str = PERIOD) -> dict:
    response = client.get(f"/api/v1/reports/{name}?{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def rows_by(report_json: dict, *keys: str) -> dict[tuple, dict]:
    return {tuple(r[k] for k in keys): r for r in report_json["rows"]}


def csv_rows(response) -> list[list[str]]:
    assert response.data.startswith(b"\xef\xbb\xbf"), response.data[:20]
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


# --- 双公示 timeliness ---------------------------------------------------------------------------

@pytest.mark.parametrize("decided, published, expected", PUBLICATIONS)
def test_each_decision_is_classified_by_the_working_day_calendar(ctx, runtime, decided, published, expected):
    calendar = runtime.calendar()
    assert classify_publication(decided, published, date(2026, 4, 13), runtime, calendar) == expected


def test_timeliness_per_department_and_month_on_a_known_set(app, demo, api):
    add_publication_records(app)
    add_person_record(app, date(2026, 3, 2), None)  # a person's decision is not published: left out
    body = report(api.as_user("admin"), "timeliness")
    rows = rows_by(body, "department_code", "month")
    market = {month: rows[("market-regulation", month)] for month in ("2026-01", "2026-02", "2026-03", "2026-04")}
    assert [market[m]["decisions"] for m in market] == [3, 2, 1, 1]
    assert (market["2026-01"]["on_time"], market["2026-01"]["late"]) == (2, 1)
    assert (market["2026-02"]["on_time"], market["2026-02"]["late"]) == (1, 1)
    assert market["2026-03"]["overdue_unpublished"] == 1 and market["2026-03"]["on_time_rate"] == 0.0
    assert market["2026-04"]["pending"] == 1 and market["2026-04"]["on_time_rate"] is None
    assert market["2026-01"]["on_time_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert market["2026-01"]["late_rate"] == pytest.approx(1 / 3, abs=1e-4)
    # Demo record 1: decided 2026-01-12, online 01-20, within the 7 WD of S1.
    enforcement = rows[("law-enforcement", "2026-01")]
    assert (enforcement["decisions"], enforcement["on_time"], enforcement["meets_targets"]) == (1, 1, "是 / yes")
    total = body["total"]
    assert (total["on_time"], total["late"], total["overdue_unpublished"], total["pending"]) == (4, 2, 1, 1)
    assert total["on_time_rate"] == pytest.approx(4 / 7, abs=1e-4)
    assert total["late_rate"] == pytest.approx(2 / 6, abs=1e-4)
    assert total["meets_targets"] == "否 / no"
    assert body["targets"] == {"on_time_rate_min": 0.98, "late_rate_max": 0.05}
    assert body["calendar_missing_years"] == []


def test_a_year_without_holiday_data_is_reported_with_the_year(app, demo, api, clock):
    add_publication_records(app, rows=[(date(2026, 12, 28), None, "?"), (date(2026, 12, 1), date(2026, 12, 9), "?")])
    clock.set(at(2026, 12, 31))
    body = report(api.as_user("admin"), "timeliness", "from=2026-12&to=2026-12")
    row = rows_by(body, "department_code", "month")[("market-regulation", "2026-12")]
    assert (row["decisions"], row["not_computable"], row["on_time"]) == (2, 1, 1)
    assert body["calendar_missing_years"] == [2027]
    assert any("2027" in note and "not loaded" in note for note in body["notes"])
    browser = Browser(app)
    browser.login("admin")
    page = browser.get("/reports?from=2026-12&to=2026-12").get_data(as_text=True)
    assert 'data-testid="report-warning"' in page and "2027年节假日安排尚未加载" in page


# --- case SLA ----------------------------------------------------------------------------------

def test_case_sla_counts_from_objections_driven_through_the_api(app, demo, api, clock):
    drive_objections(api, clock)
    admin = api.as_user("admin")
    body = report(admin, "case-sla", "from=2026-03&to=2026-04")
    assert len(body["rows"]) == 1
    row = body["rows"][0]
    assert (row["case_type"], row["department_code"]) == ("objection", "law-enforcement")
    # Decision clocks: on time, after the provider extension, notified late, still open; plus the
    # provider's own reply clock, met on time.
    assert {k: row[k] for k in ("deadlines", "met_on_time", "met_extended", "overdue_closed", "overdue_open",
                                "in_progress")} == {"deadlines": 5, "met_on_time": 2, "met_extended": 1,
                                                    "overdue_closed": 1, "overdue_open": 1, "in_progress": 0}
    assert row["on_time_rate"] == pytest.approx(3 / 5)
    assert body["by_case_type"][0]["overdue_open"] == 1
    assert report(admin, "case-sla", "from=2026-01&to=2026-02")["rows"] == []


def test_case_sla_is_scoped_to_the_viewers_department(app, demo, api, clock):
    drive_objections(api, clock)
    assert report(api.as_user("market"), "case-sla", "from=2026-03&to=2026-04")["rows"] == []
    own = report(api.as_user("reviewer"), "case-sla", "from=2026-03&to=2026-04")
    assert own["scope"] == "law-enforcement" and own["rows"][0]["deadlines"] == 5
    assert report(api.as_user("window"), "case-sla", "from=2026-03&to=2026-04")["rows"][0]["deadlines"] == 5


# --- grades and supervision classes -------------------------------------------------------------

def test_grade_distribution_counts_subjects_per_grade_at_the_period_end(app, demo, api):
    add_graded_organisations(app)
    body = report(api.as_user("auditor"), "grades")
    assert body["at"] == "2026-04-13"  # the period runs to this month: today
    grades = {r["grade"]: r for r in body["rows"]}
    # Demo: company 980 (A), shop 1000 (A), person 980 (A).
    assert (grades["A"]["legal_person"], grades["A"]["other_org"], grades["A"]["natural_person"]) == (21, 1, 1)
    assert [grades[g]["total"] for g in ("B", "C", "D")] == [10, 6, 4]
    assert body["total"]["total"] == 43
    # At the end of January the March records do not count yet.
    january = report(api.as_user("auditor"), "grades", "from=2026-01&to=2026-01")
    assert january["at"] == "2026-01-31" and {r["grade"]: r["total"] for r in january["rows"]}["A"] == 43


def test_supervision_classes_and_sample_sizes_follow_the_configured_ratios(app, demo, api):
    add_graded_organisations(app)
    body = report(api.as_user("admin"), "supervision")
    classes = {r["class"]: r for r in body["rows"]}
    assert {c: classes[c]["subjects"] for c in "ABCD"} == {"A": 22, "B": 10, "C": 6, "D": 4}
    # ⌈5% × 22⌉ = 2, ⌈20% × 10⌉ = 2, ⌈60% × 6⌉ = 4, ⌈100% × 4⌉ = 4
    assert {c: classes[c]["sample_size"] for c in "ABCD"} == {"A": 2, "B": 2, "C": 4, "D": 4}
    assert classes["C"]["ratio"] == 0.6 and classes["C"]["ratio_range"] == "21%–60%"
    listed = report(api.as_user("admin"), "supervision-subjects")
    assert len(listed["rows"]) == 42 and all(r["kind"] != "natural_person" for r in listed["rows"])
    assert {r["class"] for r in listed["rows"] if r["grade"] == "C"} == {"C"}


# --- spot-check draws ----------------------------------------------------------------------------

def test_a_drawn_sample_is_recorded_reproducible_and_sized_by_the_ratios(app, demo, api, clock):
    ids = add_graded_organisations(app)
    market = api.as_user("market")
    response = market.post("/api/v1/reports/spot-checks", json={"department": "market-regulation", "period": "2026-05"})
    assert response.status_code == 201, response.get_json()
    plan = response.get_json()
    assert plan["size"] == 12 and {c: len(v) for c, v in plan["drawn"].items()} == {"A": 2, "B": 2, "C": 4, "D": 4}
    assert set(plan["drawn"]["D"]) == set(ids["D"])  # 100%: every high-risk subject
    assert set(plan["drawn"]["B"]) <= set(ids["B"]) and set(plan["drawn"]["C"]) <= set(ids["C"])
    assert plan["reproduced"] is True and plan["drawn_by"].startswith("市场监管局审核员")
    with app.app_context():
        row = db.session.get(SpotCheckPlan, plan["id"])
        assert row.drawn_at == at(2026, 4, 13, 9) and row.as_of == date(2026, 4, 13)
        assert row.drawn_by.username == "market" and str(row.seed) == plan["seed"]
        assert row.population_sha256 == population_sha256(row.population)
        # The same seed and population give the same sample, again and again.
        assert draw_sample(row.seed, row.population, row.ratios) == row.drawn
        assert draw_sample(row.seed, row.population, row.ratios) == draw_sample(row.seed, row.population, row.ratios)

    again = market.post("/api/v1/reports/spot-checks", json={"department": "market-regulation", "period": "2026-05"})
    assert again.status_code == 409 and again.get_json()["details"]["plan_id"] == plan["id"]
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(SpotCheckPlan.id))).scalar_one() == 1
        stored = db.session.get(SpotCheckPlan, plan["id"])
        assert stored.drawn == plan["drawn"]  # not redrawn

    fetched = api.as_user("auditor").get(f"/api/v1/reports/spot-checks/{plan['id']}").get_json()
    assert fetched["reproduced"] is True and fetched["seed"] == plan["seed"]


def test_a_tampered_plan_no_longer_reproduces(app, demo, api):
    add_graded_organisations(app)
    admin = api.as_user("admin")
    plan = admin.post("/api/v1/reports/spot-checks",
                      json={"department": "law-enforcement", "period": "2026-04"}).get_json()
    with app.app_context():
        row = db.session.get(SpotCheckPlan, plan["id"])
        drawn = dict(row.drawn)
        drawn["A"] = sorted(set(row.population["A"]) - set(drawn["A"]))[:2]
        row.drawn = drawn
        commit()
    assert admin.get(f"/api/v1/reports/spot-checks/{plan['id']}").get_json()["reproduced"] is False


def test_who_may_draw_for_which_department_and_month(app, demo, api):
    add_graded_organisations(app)
    body = {"department": "law-enforcement", "period": "2026-05"}
    assert api.as_user("market").post("/api/v1/reports/spot-checks", json=body).status_code == 403
    assert api.as_user("auditor").post("/api/v1/reports/spot-checks", json=body).status_code == 403
    assert api.as_user("enterprise").post("/api/v1/reports/spot-checks", json=body).status_code == 403
    past = api.as_user("reviewer").post("/api/v1/reports/spot-checks", json={**body, "period": "2026-03"})
    assert past.status_code == 422 and "past month" in past.get_json()["message"]
    unknown = api.as_user("admin").post("/api/v1/reports/spot-checks", json={**body, "department": "nowhere"})
    assert unknown.status_code == 422
    drawn = api.as_user("reviewer").post("/api/v1/reports/spot-checks", json=body)
    assert drawn.status_code == 201
    plan_id = drawn.get_json()["id"]
    # Another department neither lists nor opens it.
    assert api.as_user("market").get(f"/api/v1/reports/spot-checks/{plan_id}").status_code == 404
    assert api.as_user("market").get("/api/v1/reports/spot-checks").get_json()["plans"] == []
    assert [p["id"] for p in api.as_user("head").get("/api/v1/reports/spot-checks").get_json()["plans"]] == [plan_id]


def test_a_department_draws_from_the_dashboard_and_sees_the_plan(app, demo):
    add_graded_organisations(app)
    browser = Browser(app)
    browser.login("reviewer")
    page = browser.get("/reports").get_data(as_text=True)
    assert 'data-testid="draw-form"' in page and 'value="market-regulation"' not in page  # own department only
    response = browser.client.post("/reports/spot-checks", data={"department": "law-enforcement", "period": "2026-04",
                                                                  "csrf_token": csrf_token_from(page)})
    assert response.status_code == 302 and "/reports/spot-checks/" in response.headers["Location"]
    shown = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="plan-seed"' in shown and "按种子重抽结果一致" in shown
    assert shown.count('data-testid="plan-subject"') == 12
    plan_csv = csv_rows(browser.get(response.headers["Location"] + ".csv"))
    assert plan_csv[0][0] == "主体编号 / Subject id" and len(plan_csv) == 13
    # A second draw for the same month leads to the existing plan with the reason.
    again = browser.client.post("/reports/spot-checks", data={"department": "law-enforcement", "period": "2026-04",
                                                               "csrf_token": csrf_token_from(page)})
    assert again.headers["Location"] == response.headers["Location"]
    assert "不能重新抽取" in browser.get(again.headers["Location"]).get_data(as_text=True)
    # The auditor reads but does not draw.
    auditor = Browser(app)
    auditor.login("auditor")
    assert 'data-testid="draw-form"' not in auditor.get("/reports").get_data(as_text=True)


# --- periods, CSV, the page, access ---------------------------------------------------------------

@pytest.mark.parametrize("query", ["from=2026-01&to=2026-05", "from=2026-05&to=2026-05", "from=2027-01&to=2027-02"])
def test_a_period_in_the_future_is_422_with_a_bilingual_message(app, demo, api, query):
    response = api.as_user("admin").get(f"/api/v1/reports/timeliness?{query}")
    assert response.status_code == 422
    message = response.get_json()["message"]
    assert "报表期间不能在未来" in message and "must not lie in the future" in message
    browser = Browser(app)
    browser.login("admin")
    assert browser.get(f"/reports/grades.csv?{query}").status_code == 422
    page = browser.get(f"/reports?{query}")
    assert page.status_code == 422 and 'data-testid="period-error"' in page.get_data(as_text=True)


@pytest.mark.parametrize("query", ["from=2026-04&to=2026-01", "from=2026-13&to=2026-04", "to=April"])
def test_a_malformed_period_is_422(app, demo, api, query):
    assert api.as_user("admin").get(f"/api/v1/reports/case-sla?{query}").status_code == 422


def test_csv_has_a_bom_and_the_reports_rows(app, demo):
    add_publication_records(app)
    browser = Browser(app)
    browser.login("admin")
    response = browser.get(f"/reports/timeliness.csv?{PERIOD}")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert "timeliness_2026-01_2026-04.csv" in response.headers["Content-Disposition"]
    rows = csv_rows(response)
    assert rows[0][:3] == ["部门 / Department", "决定月份 / Decision month", "决定数 / Decisions"]
    assert ["文登区市场监督管理局", "2026-01", "3", "2", "1", "0", "0", "0", "66.7%", "33.3%", "否"] in rows
    assert ["文登区市场监督管理局", "2026-04", "1", "0", "0", "0", "1", "0", "—", "—", ""] in rows
    assert rows[-1][0] == "合计" and rows[-1][2] == "8"
    assert len(rows) == 1 + 5 + 1  # header, law Jan + market Jan..Apr, total
    for name in ("case-sla", "grades", "supervision", "supervision-subjects"):
        other = browser.get(f"/reports/{name}.csv?{PERIOD}")
        assert other.status_code == 200 and other.data.startswith(b"\xef\xbb\xbf"), name
    assert browser.get(f"/reports/nothing.csv?{PERIOD}").status_code == 404


def test_timeliness_is_scoped_to_the_viewers_department(app, demo, api):
    add_publication_records(app)
    market = report(api.as_user("market"), "timeliness")
    assert {r["department_code"] for r in market["rows"]} == {"market-regulation"}
    assert market["scope"] == "market-regulation" and market["total"]["decisions"] == 7
    enforcement = report(api.as_user("reviewer"), "timeliness")
    assert {r["department_code"] for r in enforcement["rows"]} == {"law-enforcement"}
    browser = Browser(app)
    browser.login("market")
    rows = csv_rows(browser.get(f"/reports/timeliness.csv?{PERIOD}"))
    assert {r[0] for r in rows[1:-1]} == {"文登区市场监督管理局"}
    page = browser.get(f"/reports?{PERIOD}").get_data(as_text=True)
    assert 'data-testid="scope"' in page and "文登区综合行政执法局" not in page.split('id="report-timeliness"')[1].split(
        "</section>")[0]


def test_the_dashboard_draws_every_report_with_an_svg_chart(app, demo, api, clock):
    add_publication_records(app)
    drive_objections(api, clock)
    browser = Browser(app)
    browser.login("window")
    response = browser.get(f"/reports?{PERIOD}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for name in ("timeliness", "case-sla", "grades", "supervision"):
        assert f'data-testid="chart-{name}"' in page and f'data-testid="csv-{name}"' in page, name
    assert "<svg" in page and "<script" not in page
    assert "目标 ≥98%" in page and "≤5%" in page
    assert 'data-testid="nav-reports.index"' in page
    english = browser.get(f"/reports?{PERIOD}&lang=en").get_data(as_text=True)
    assert "On-time publication rate per department" in english and "Download CSV" in english


@pytest.mark.parametrize("username", ["enterprise", "person", "inspector", "mediator"])
def test_applicants_and_other_specialists_are_refused(app, demo, api, username):
    client = api.as_user(username)
    assert client.get(f"/api/v1/reports/timeliness?{PERIOD}").status_code == 403
    assert client.get("/api/v1/reports/spot-checks").status_code == 403
    browser = Browser(app)
    browser.login(username)
    assert browser.get("/reports").status_code == 403
    assert browser.get(f"/reports/grades.csv?{PERIOD}").status_code == 403
    messages = browser.get("/messages")
    assert messages.status_code == 200 and 'nav-reports.index' not in messages.get_data(as_text=True)


def test_reports_need_a_login_and_a_token(app, demo, client):
    assert client.get("/reports").status_code == 302
    assert client.get(f"/api/v1/reports/grades?{PERIOD}").status_code == 401


def test_openapi_lists_the_report_operations(api):
    paths = api.get("/api/v1/openapi.json").get_json()["paths"]
    for name in ("timeliness", "case-sla", "grades", "supervision", "supervision-subjects"):
        assert "get" in paths[f"/api/v1/reports/{name}"], name
    assert {"get", "post"} <= set(paths["/api/v1/reports/spot-checks"])
    assert "get" in paths["/api/v1/reports/spot-checks/{plan_id}"]


def test_grades_are_read_from_the_score_store_when_it_holds_the_day(app, demo, api, runtime):
    from models.score_store import ScoreDirty, SubjectScore
    from workflows.score_recompute import recompute

    with app.app_context():
        recompute(db.session, runtime, mode="full")
        commit()
        # Prove the store is read, not recomputed: tamper the shop's stored grade.
        db.session.execute(db.update(SubjectScore).where(SubjectScore.subject_id == 2).values(grade="C", score=700))
        commit()
    auditor = api.as_user("auditor")
    today = report(auditor, "supervision-subjects", "from=2026-04&to=2026-04")
    assert today["source"] == "score_store"
    assert {r["subject_id"]: (r["grade"], r["class"]) for r in today["rows"]}[2] == ("C", "C")
    # Queued for recomputation (its records changed): computed from the records again.
    with app.app_context():
        db.session.add(ScoreDirty(subject_id=2, since=at(2026, 4, 13)))
        commit()
    queued = report(auditor, "supervision-subjects", "from=2026-04&to=2026-04")
    assert queued["source"] == "score_store+computed"
    assert {r["subject_id"]: r["grade"] for r in queued["rows"]}[2] == "A"
    # The store keeps the latest value only: a past day is computed from the records.
    assert report(auditor, "grades", "from=2026-02&to=2026-02")["source"] == "computed"


def test_grades_beyond_the_on_the_fly_bound_are_reported_not_guessed(app, demo, api, runtime, monkeypatch):
    monkeypatch.setitem(runtime.rules._values, "reports.max_subjects", 2)  # Rules is read-only by design
    admin = api.as_user("admin")
    body = report(admin, "grades")
    assert body["population"] == 3 and body["counted"] == 2
    assert any("only 2 are counted" in note for note in body["notes"])
    drawn = admin.post("/api/v1/reports/spot-checks", json={"department": "market-regulation", "period": "2026-04"})
    assert drawn.status_code == 201  # two organisations: within the bound
    monkeypatch.setitem(runtime.rules._values, "reports.max_subjects", 1)
    refused = admin.post("/api/v1/reports/spot-checks", json={"department": "law-enforcement", "period": "2026-04"})
    assert refused.status_code == 422 and "full list" in refused.get_json()["message"]
