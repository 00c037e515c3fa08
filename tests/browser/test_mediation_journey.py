"""Mediation in a real browser (Debian's chromium through Playwright): a mediator opens the console,
registers a dispute between the demo company and 张某 found by name, records the respondent's
consent, registers it, takes the case, tells the parties their rights, logs two sessions, drafts the
agreement from the last session's record, records every signature and the seal, lets it take
effect, monitors performance and marks the agreement performed. The clock stands on S12's
registration day (2026-02-12)."""
from __future__ import annotations

from datetime import datetime

import pytest

from webapp.demo import seed_demo
from webapp.views.common import commit
from workflows.clock import BEIJING

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(app, clock, serve_app):
    clock.set(datetime(2026, 2, 12, 9, tzinfo=BEIJING))
    with app.app_context():
        seed_demo(app.extensions["creditdesk"])
        commit()
    return serve_app()


def act(page, trigger: str) -> None:
    page.click(f"[data-testid=submit-{trigger}]")
    page.wait_for_load_state()
    assert page.locator("[data-testid=alert]").count() == 0, page.locator("[data-testid=alert]").inner_text()


def state(page) -> str:
    return page.locator("[data-testid=state]").inner_text()


def due(page, kind: str) -> str:
    return page.locator(f"[data-testid=deadline-{kind}] [data-testid=deadline-due]").inner_text().strip()


def test_mediator_registers_logs_two_sessions_records_the_agreement_and_sees_it_performed(
        chromium, live_server, login, artifacts):
    # chromium first: where it is missing the test skips before the server thread starts.
    base = live_server
    mediator = login(chromium, base, "mediator")
    mediator.click("[data-testid=nav-mediation\\.console]")
    mediator.wait_for_load_state()
    mediator.click("[data-testid=new-mediation]")
    mediator.wait_for_load_state()
    mediator.fill("#applicant", "示范建材")
    mediator.fill("#respondent", "张某")
    mediator.select_option("#application_form", "oral")
    mediator.fill("#dispute", "建材货款纠纷：张某拖欠货款五万元")
    mediator.click("[data-testid=submit-mediation]")
    mediator.wait_for_load_state()
    assert "/cases/" in mediator.url
    case_url = mediator.url.split("?")[0].split("#")[0]
    assert mediator.locator("[data-testid=case-reference]").inner_text().startswith("TJ-2026-")
    assert "张某" in mediator.locator("[data-testid=party-respondent]").inner_text()

    mediator.fill("#record_consent-how", "电话确认并签署同意书")
    act(mediator, "record_consent")
    act(mediator, "register")
    assert due(mediator, "conclusion") == "2026-03-12"
    mediator.select_option("#assign_mediators-chosen_by", "committee")
    act(mediator, "assign_mediators")
    mediator.select_option("#inform_rights-how", "written")
    act(mediator, "inform_rights")
    assert "调解中" in state(mediator)

    sessions = [("双方对金额有争议", "被申请人分期付款", ""),
                ("双方同意一次性付清", "被申请人于3月31日前支付货款五万元", "被申请人|支付建材货款|50000|2026-03-31")]
    for participants_note, proposals, obligations in sessions:
        mediator.fill("#log_session-participants", f"调解员；李某；张某（{participants_note}）")
        mediator.fill("#log_session-proposals", proposals)
        if obligations:
            mediator.fill("#log_session-proposed_obligations", obligations)
        act(mediator, "log_session")
    assert mediator.locator("[data-testid=mediation-sessions] details").count() == 2
    mediator.screenshot(path=str(artifacts / "mediation-1-sessions.png"), full_page=True)

    mediator.click("[data-testid=draft-agreement]")
    mediator.wait_for_load_state()
    assert mediator.input_value("#terms") == "被申请人于3月31日前支付货款五万元"
    assert mediator.input_value("#obligations") == "被申请人|支付建材货款|50000.00|2026-03-31"
    mediator.click("[data-testid=submit-agreement]")
    mediator.wait_for_load_state()
    assert "待签署" in state(mediator)
    assert mediator.locator("[data-testid=missing-signature]").count() == 4

    for signer in ("applicant", "respondent", "mediator", "seal"):
        mediator.select_option("#sign-signer", signer)
        act(mediator, "sign")
    assert mediator.locator("[data-testid=missing-signature]").count() == 0
    act(mediator, "take_effect")
    assert "协议已生效" in state(mediator)
    assert due(mediator, "confirmation_window") == "2026-03-16"  # 02-12 + 30 CD = Sat 03-14 → Mon (C3)

    act(mediator, "start_performance")
    mediator.fill("#mark_obligation-obligation", "1")
    mediator.select_option("#mark_obligation-result", "performed")
    mediator.fill("#mark_obligation-note", "电话回访，已付清")
    act(mediator, "mark_obligation")
    status = mediator.locator("[data-testid=obligation-1] [data-testid=obligation-status]")
    assert status.inner_text().strip() == "已履行"
    act(mediator, "finish_performed")
    assert "协议已履行" in state(mediator)
    mediator.screenshot(path=str(artifacts / "mediation-2-performed.png"), full_page=True)

    mediator.goto(case_url)
    mediator.click("[data-testid=print-agreement]")
    mediator.wait_for_load_state()
    assert mediator.locator("[data-testid=agreement-title]").inner_text() == "人民调解协议书"
    assert "支付建材货款" in mediator.locator("[data-testid=print-obligations]").inner_text()
