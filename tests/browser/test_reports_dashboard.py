"""The supervision dashboard in a real browser (Debian's chromium through Playwright), with known
data: publications around the 2026 holidays, objections driven through the API, graded
organisations and one drawn spot-check plan. Saves docs/screenshots/dashboard.png (kept in the
repository as the picture of the dashboard) and a copy under test-artifacts/."""
from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from report_data import add_graded_organisations, add_publication_records, drive_objections

from models import db
from webapp.demo import seed_demo
from webapp.views.common import commit

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

#: The law-enforcement bureau publishes on time (a second bar in the timeliness chart).
ENFORCEMENT_PUBLICATIONS = [(date(2026, 2, 2), date(2026, 2, 6), "on_time"),
                            (date(2026, 3, 9), date(2026, 3, 17), "on_time"),
                            (date(2026, 3, 16), date(2026, 3, 24), "on_time")]


@pytest.fixture
def dashboard_server(app, api, clock, serve_app):
    with app.app_context():
        seed_demo(app.extensions["creditdesk"])
        commit()
        db.session.remove()
    add_publication_records(app)
    add_publication_records(app, "law-enforcement", rows=ENFORCEMENT_PUBLICATIONS, subject_id=1)
    add_graded_organisations(app)
    drive_objections(api, clock)
    drawn = api.as_user("market").post("/api/v1/reports/spot-checks",
                                       json={"department": "market-regulation", "period": "2026-04"})
    assert drawn.status_code == 201, drawn.get_json()
    return serve_app()


def test_dashboard_renders_its_charts_and_is_photographed(dashboard_server, chromium, login, artifacts):
    page = login(chromium, dashboard_server, "admin")
    page.click("[data-testid='nav-reports.index']")
    page.wait_for_load_state()
    page.fill("#p-from", "2026-01")
    page.fill("#p-to", "2026-04")
    page.click("[data-testid=period-submit]")
    page.wait_for_load_state()
    assert "from=2026-01" in page.url
    for name in ("timeliness", "case-sla", "grades", "supervision"):
        chart = page.locator(f"[data-testid=chart-{name}]")
        assert chart.is_visible(), name
        assert chart.bounding_box()["height"] > 40, name
    assert page.locator("[data-testid=kpi-on-time] strong").inner_text().strip() == "90.0%"
    assert page.locator("[data-testid=kpi-overdue] strong").inner_text().strip() == "1"
    assert page.locator("[data-testid=plan-row]").count() == 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / "dashboard.png"
    page.screenshot(path=str(target), full_page=True)
    shutil.copyfile(target, artifacts / "reports-dashboard.png")
    page.screenshot(path=str(artifacts / "reports-dashboard-top.png"),
                    clip={"x": 0, "y": 0, "width": 1280, "height": 1300})
    assert target.stat().st_size > 20_000
