"""The main journey in a real browser (Debian's chromium through Playwright): an enterprise files a
repair application with an upload and a signed commitment, the window pushes it, the department
accepts and approves, and the enterprise sees its record repaired."""
from __future__ import annotations

import shutil

import pytest

from models import db
from webapp.demo import seed_demo
from webapp.views.common import commit

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(app, serve_app):
    with app.app_context():
        seed_demo(app.extensions["creditdesk"])
        commit()
        db.session.remove()
    return serve_app()


def act(page, trigger: str) -> None:
    page.click(f"[data-testid=submit-{trigger}]")
    page.wait_for_load_state()


def test_enterprise_files_reviewer_approves_enterprise_sees_record_repaired(live_server, chromium, tmp_path, login, artifacts):
    receipt = tmp_path / "fine-receipt.pdf"
    receipt.write_bytes(b"%PDF-1.4\n% fine paid 2026-01-20\n%%EOF\n")

    enterprise = login(chromium, live_server, "enterprise")
    assert "/portal" in enterprise.url
    enterprise.click("[data-testid=apply-1]")
    assert enterprise.locator("[data-testid=eligible-from]").inner_text().strip() == "2026-04-13"
    assert "信用承诺书" in enterprise.locator("[data-testid=commitment-text]").inner_text()
    enterprise.fill("textarea[name=statement]", "罚款已于2026-01-20缴纳，违法建设已自行拆除。")
    enterprise.fill("input[name=signer_name]", "李某")
    enterprise.set_input_files("input[name=file_fulfilment_proof]", str(receipt))
    enterprise.check("input[name=commitment_accepted]")
    enterprise.screenshot(path=str(artifacts / "journey-1-application.png"), full_page=True)
    enterprise.click("[data-testid=submit-repair]")
    enterprise.wait_for_load_state()
    assert "/cases/" in enterprise.url
    case_url = enterprise.url.split("?")[0]
    assert enterprise.locator("[data-testid=deadline-result] [data-testid=deadline-due]").inner_text().strip() == "2026-04-27"

    window = login(chromium, live_server, "window")
    window.goto(case_url)
    act(window, "push")
    assert window.locator("[data-testid=deadline-acceptance] [data-testid=deadline-due]").inner_text().strip() == "2026-04-16"

    reviewer = login(chromium, live_server, "reviewer")
    reviewer.goto(f"{live_server}/review")
    reviewer.locator("[data-testid=inbox-row] a").first.click()
    reviewer.wait_for_load_state()
    act(reviewer, "accept")
    reviewer.fill("[data-testid=action-approve] textarea[name=note]", "已核实罚款缴纳凭证，符合修复条件。")
    act(reviewer, "approve")
    reviewer.screenshot(path=str(artifacts / "journey-2-approved.png"), full_page=True)
    assert "准予修复" in reviewer.locator("[data-testid=case-header]").inner_text()

    enterprise.goto(f"{live_server}/portal")
    status = enterprise.locator("[data-testid=record-1] [data-testid=record-status]").inner_text()
    enterprise.screenshot(path=str(artifacts / "journey-3-repaired.png"), full_page=True)
    assert status.strip() == "已修复"
    enterprise.goto(f"{live_server}/messages")
    assert "准予信用修复" in enterprise.locator("[data-testid=messages]").inner_text()
    shutil.copy(receipt, artifacts / "journey-receipt.pdf")
