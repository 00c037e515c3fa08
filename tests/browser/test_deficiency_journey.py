"""容缺受理 in a real browser (Debian's chromium through Playwright): an enterprise applies with two
non-core items missing, the credit center runs the credit check, the enterprise signs the 容缺
commitment, the market-regulation department accepts with gaps, the enterprise uploads and
supplies both items, the department finds them conforming and issues the certificate, and the
enterprise sees the certificate number on its pages. The clock stands on DOMAIN.md §10 S10's day."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from forms.fields import uscc_check_char
from models import Subject, User, db
from webapp.demo import seed_demo
from webapp.views.common import commit
from workflows.clock import BEIJING

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(app, clock, serve_app):
    """S10's day, and Company C — no records, so its credit check is clean — acting through the
    enterprise account."""
    clock.set(datetime(2026, 2, 9, 9, tzinfo=BEIJING))
    with app.app_context():
        seed_demo(app.extensions["creditdesk"])
        first17 = "91371081MA3DEMC03"
        subject = Subject(kind="legal_person", name="文登区示范餐饮有限公司", uscc=first17 + uscc_check_char(first17),
                          legal_representative="陈某", created_at=clock.now())
        db.session.add(subject)
        enterprise = db.session.execute(db.select(User).where(User.username == "enterprise")).scalar_one()
        enterprise.subjects.append(subject)
        commit()
        subject_id = subject.id
        db.session.remove()
    return serve_app(), subject_id


def act(page, trigger: str) -> None:
    page.click(f"[data-testid=submit-{trigger}]")
    page.wait_for_load_state()
    assert page.locator("[data-testid=alert]").count() == 0, page.locator("[data-testid=alert]").inner_text()


def upload(page, key: str, path: Path) -> None:
    page.select_option("#material_key", key)
    page.set_input_files("[data-testid=upload-form] input[name=file]", str(path))
    page.click("[data-testid=submit-upload]")
    page.wait_for_load_state()


def test_enterprise_applies_supplies_both_items_and_sees_the_certificate(live_server, chromium, tmp_path, login, artifacts):
    base, subject_id = live_server
    files = {}
    for key in ("business_licence", "legal_rep_id"):
        files[key] = tmp_path / f"{key}.pdf"
        files[key].write_bytes(b"%PDF-1.4\n% " + key.encode() + b"\n%%EOF\n")

    enterprise = login(chromium, base, "enterprise")
    enterprise.click("[data-testid=nav-deficiency\\.index]")
    enterprise.wait_for_load_state()
    enterprise.click("[data-testid=new-deficiency]")
    enterprise.wait_for_load_state()
    enterprise.select_option("#subject_id", str(subject_id))
    enterprise.check("#matter-food-business-licence")
    enterprise.check("#missing-food-business-licence-business_licence")
    enterprise.check("#missing-food-business-licence-legal_rep_id")
    enterprise.check("#core_complete")
    enterprise.screenshot(path=str(artifacts / "rongque-1-application.png"), full_page=True)
    enterprise.click("[data-testid=submit-deficiency]")
    enterprise.wait_for_load_state()
    assert "/cases/" in enterprise.url
    case_url = enterprise.url.split("?")[0].split("#")[0]
    assert "已申请待信用核查" in enterprise.locator("[data-testid=state]").inner_text()

    window = login(chromium, base, "window")
    window.goto(f"{base}/review")
    window.locator(f"[data-testid=inbox-row] a[href='{case_url.replace(base, '')}']").first.click()
    window.wait_for_load_state()
    act(window, "check_credit")
    assert "通过" in window.locator("[data-testid=deficiency-check]").inner_text()

    enterprise.goto(case_url)
    enterprise.click("[data-testid=case-details] details.commitment summary")  # read before signing
    assert "营业执照复印件、法定代表人身份证明" in enterprise.locator("[data-testid=case-details] pre.commitment").inner_text()
    enterprise.fill("#sign-signer_name", "陈某")
    enterprise.check("#sign-commitment_accepted")
    act(enterprise, "sign")

    market = login(chromium, base, "market")
    market.goto(case_url)
    act(market, "accept")
    assert market.locator("[data-testid=supply-due]").inner_text().strip() == "2026-03-13"

    enterprise.goto(case_url)
    assert enterprise.locator("[data-testid=deadline-supply] [data-testid=deadline-due]").inner_text().strip() == "2026-03-13"
    for key, path in files.items():
        upload(enterprise, key, path)
    act(enterprise, "supply")
    assert enterprise.locator("[data-testid=item-business_licence] [data-testid=item-supplied]").inner_text().strip()
    enterprise.screenshot(path=str(artifacts / "rongque-2-supplied.png"), full_page=True)

    market.goto(case_url)
    act(market, "start_review")
    act(market, "decide_pending_supply")
    market.select_option("#check_items-verdict", "conforms")
    act(market, "check_items")
    assert market.locator("[data-testid=item-legal_rep_id] [data-testid=item-check]").inner_text().strip() == "符合要求"
    act(market, "issue_certificate")
    assert "已颁发证照" in market.locator("[data-testid=state]").inner_text()

    enterprise.goto(case_url)
    number = enterprise.locator("[data-testid=certificate-no]").inner_text().strip()
    assert number.startswith("RQZ-2026-")
    enterprise.screenshot(path=str(artifacts / "rongque-3-certificate.png"), full_page=True)
    enterprise.goto(f"{base}/portal/deficiency")
    assert enterprise.locator("[data-testid=certificate-no]").first.inner_text().strip() == number
    enterprise.goto(f"{base}/messages")
    assert "证照已颁发" in enterprise.locator("[data-testid=messages]").inner_text()
