"""Front desk in chromium: a patient writes in from an article, the office's staff work the lead; others never see it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from intake.extensions import db
from intake.models import Lead
from tests.conftest import STRONG_PASSWORD
from tests.public_helpers import article_slug

from tests.browser.axe import AXE, requires_axe
from playwright.sync_api import expect


def sign_in(page, base, user):
    page.goto(f"{base}/staff/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/staff/login" not in url)


def send_inquiry(page, base, slug, first="Rosa", phone="(301) 555-0177"):
    """What a patient does: open an article and fill its contact form by the contract's labels."""
    page.goto(f"{base}/articles/{slug}")
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill("Delgado")
    page.get_by_label("Email").fill(f"{first.lower()}@example.com")
    page.get_by_label("Phone").fill(phone)
    page.get_by_label("ZIP code").fill("20814")
    page.get_by_label("Preferred location").select_option(label="Bethesda, MD")
    page.get_by_label("Message").fill("Can someone call me after 5pm?")
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r"/thanks"))


@pytest.fixture
def no_js_page(playwright_browser):
    """Staff pages must work with JavaScript off: this profile has none."""
    context = playwright_browser.new_context(viewport={"width": 1024, "height": 768}, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def test_front_desk_claims_calls_and_books_the_new_lead(app, live_server, page, no_js_page, make_staff, make_lead,
                                                         screenshot, playwright_browser):
    base = live_server.url
    older = make_lead(location_choice="bethesda-md", first_name="Earlier")
    with app.app_context():
        # An earlier lead already being worked sits below a fresh, untouched one.
        db.session.get(Lead, older["id"]).status = "contacting"
        db.session.commit()
    send_inquiry(page, base, article_slug(app))
    with app.app_context():
        lead = db.session.scalar(select(Lead).where(Lead.first_name == "Rosa"))
        reference = lead.reference

    desk = make_staff(name="Dana Desk", locations=["bethesda-md"])
    staff = no_js_page
    sign_in(staff, base, desk)
    staff.goto(f"{base}/staff/leads?status=new")
    first_row = staff.locator("table.queue tbody tr").first
    assert reference in first_row.inner_text() and "Rosa D." in first_row.inner_text()
    screenshot(staff, "staff-queue-1024")
    first_row.get_by_role("link", name=reference).click()
    staff.wait_for_url(re.compile(rf"/staff/leads/{lead.id}$"))
    assert "Can someone call me after 5pm?" in staff.locator("main").inner_text()

    staff.get_by_role("button", name="Claim this lead").click()
    expect(staff.locator(".flashes")).to_contain_text("You have the lead.")
    form = staff.locator("form", has=staff.get_by_role("button", name="Log attempt"))
    form.get_by_label("Call").check()
    form.get_by_label("Left voicemail").check()
    form.get_by_role("button", name="Log attempt").click()
    expect(staff.locator(".flashes")).to_contain_text("Contact attempt logged.")
    staff.get_by_label("Status", exact=True).select_option(label="Consult scheduled")
    staff.get_by_role("button", name="Update status").click()
    expect(staff.locator(".flashes")).to_contain_text("Status: Consult scheduled.")
    timeline = staff.locator("ol.timeline").inner_text()
    for words in ("Inquiry received", "Assigned", "Contact attempt", "Call: Left voicemail", "Status changed",
                  "by Dana Desk"):
        assert words in timeline
    screenshot(staff, "staff-lead-1024")
    with app.app_context():
        done = db.session.get(Lead, lead.id)
        assert (done.status, done.assignee_id, done.failed_attempts) == ("consult_scheduled", desk.id, 1)

    # Someone at another office neither sees it in the queue, nor finds it, nor opens it.
    other = make_staff(name="Far Away", locations=["fairfax-va"])
    context = playwright_browser.new_context(viewport={"width": 1024, "height": 768})
    elsewhere = context.new_page()
    sign_in(elsewhere, base, other)
    elsewhere.goto(f"{base}/staff/leads?status=all")
    assert reference not in elsewhere.content()
    elsewhere.get_by_label("Search").fill(reference)
    elsewhere.get_by_role("button", name="Search", exact=True).click()
    expect(elsewhere.locator("main")).to_contain_text("Nothing matches that search.")
    assert elsewhere.goto(f"{base}/staff/leads/{lead.id}").status == 404
    context.close()


def test_keyboard_alone_reaches_the_search_and_the_first_lead(app, live_server, page, make_staff, make_lead):
    lead = make_lead(location_choice="bethesda-md", first_name="Keys")
    sign_in(page, live_server.url, make_staff(locations=["bethesda-md"]))
    page.goto(f"{live_server.url}/staff/leads")
    page.keyboard.press("Tab")  # the skip link
    assert page.evaluate("document.activeElement.textContent").strip() == "Skip to main content"
    page.keyboard.press("Enter")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent").strip() == lead["reference"]:
            break
    else:
        pytest.fail("the first lead's link was never reached by Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/staff/leads/{lead['id']}$"))


@requires_axe
def test_queue_and_lead_page_have_no_serious_axe_violations(app, live_server, page, make_staff, make_lead,
                                                            screenshot):
    lead = make_lead(location_choice="bethesda-md", phone="+13015550100")
    make_lead(location_choice="bethesda-md", phone="+13015550100", message="again")  # a repeat inquiry
    sign_in(page, live_server.url, make_staff(locations=["bethesda-md"]))
    source = AXE.read_text()
    found = {}
    page.set_viewport_size({"width": 1024, "height": 768})
    for path in ["/staff/leads", f"/staff/leads/{lead['id']}", "/staff/leads?status=all&spam=include"]:
        page.goto(f"{live_server.url}{path}")
        page.evaluate(source)
        result = page.evaluate("""() => axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})""")
        every = [f"{v['id']} ({v['impact']}, {len(v['nodes'])})" for v in result["violations"]]
        print(f"axe {path}: {len(result['passes'])} rules passed; violations: {', '.join(every) or 'none'}")
        bad = [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")]
        if bad:
            found[path] = bad
    assert found == {}
