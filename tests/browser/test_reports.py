"""An admin signs in, reads the reports page in chromium, and the admin pages pass axe."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from intake.extensions import db
from tests.conftest import STRONG_PASSWORD
from tests.report_fixtures import END, NOW, START, add_known_leads

from tests.browser.axe import AXE, requires_axe
PAGES = ["/staff/reports", "/staff/admin/", "/staff/admin/offices", "/staff/admin/offices/bethesda-md",
         "/staff/admin/users", "/staff/admin/users/new", "/staff/admin/outbox", "/staff/admin/audit"]


@pytest.fixture
def signed_in(app, live_server, page, make_staff, frozen_clock):
    frozen_clock.now = NOW
    admin = make_staff(email="boss@example.org", role="admin")
    with app.app_context():
        add_known_leads(db.session)
        db.session.commit()
    page.goto(f"{live_server.url}/staff/login")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/staff/login" not in url)
    return page


def test_admin_reads_a_chart_and_its_table(signed_in, live_server, screenshot):
    page = signed_in
    page.goto(f"{live_server.url}/staff/reports?start={START}&end={END}")
    chart = page.get_by_role("img", name="Leads per week")
    assert chart.evaluate("el => el.tagName") == "svg"
    assert chart.locator("rect").count() == 3
    table = page.get_by_role("table", name="Leads per week")
    rows = table.locator("tbody tr")
    assert rows.count() == 3
    assert rows.nth(2).inner_text().split() == ["2026-11-02", "5"]
    csv_link = table.get_by_role("link", name="Download CSV")
    assert "/staff/reports/weekly.csv?" in csv_link.get_attribute("href")
    with page.expect_download() as download:
        csv_link.click()
    assert Path(download.value.path()).read_text().splitlines() == [
        "Week starting,Leads", "2026-10-19,3", "2026-10-26,0", "2026-11-02,5"]
    page.get_by_label("Office", exact=True).select_option(label="Bethesda, MD")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(lambda url: "office=bethesda-md" in url)  # wait for the reload that names the office
    assert page.get_by_role("table", name="Summary of the period").locator("tbody tr").first.inner_text().split() \
        == ["Leads", "1"]
    screenshot(page, "reports")


@requires_axe
def test_reports_and_admin_pages_have_no_serious_axe_violations(app, signed_in, live_server):
    from intake.models import OutboxMessage, StaffUser

    with app.app_context():
        message = OutboxMessage(kind="acknowledgement", recipients="pat@example.com", subject="We received it",
                                body_text="Hello", message_id="<axe@x>", status="dead", last_error="550 no")
        db.session.add(message)
        db.session.commit()
        extra = [f"/staff/admin/outbox/{message.id}",
                 f"/staff/admin/users/{db.session.scalar(select(StaffUser.id))}"]
    page = signed_in
    source = AXE.read_text()
    found = {}
    for path in PAGES + extra:
        page.goto(f"{live_server.url}{path}")
        page.evaluate(source)  # evaluate is not subject to the page's CSP; a script tag would be
        result = page.evaluate("""() => axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})""")
        every = [f"{v['id']} ({v['impact']}, {len(v['nodes'])})" for v in result["violations"]]
        print(f"axe {path}: {len(result['passes'])} rules passed; violations: {', '.join(every) or 'none'}")
        bad = [f"{v['id']} ({v['impact']}, {len(v['nodes'])})" for v in result["violations"]
               if v["impact"] in ("serious", "critical")]
        if bad:
            found[path] = bad
    assert found == {}
