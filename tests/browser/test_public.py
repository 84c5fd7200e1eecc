"""A patient's path in Chromium: read an article, fill the form by its labels, read the thank-you page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from intake.extensions import db
from intake.models import Lead
from tests.public_helpers import article_slug

REFERENCE_RE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}")
from tests.browser.axe import AXE, requires_axe
from playwright.sync_api import expect


def serious_axe_violations(page) -> list[str]:
    """axe-core's WCAG 2.1 A/AA rules on the page as it stands; serious and critical ones by id."""
    page.evaluate(AXE.read_text())
    result = page.evaluate("""() => axe.run(document, {runOnly: {type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})""")
    return [f"{v['id']} ({len(v['nodes'])})" for v in result["violations"] if v["impact"] in ("serious", "critical")]


def fill_form(page, *, first="Maria", email="maria@example.com", phone="(301) 555-0162", zip_code="20814",
              message="Could someone call me about infusions?", agree=True):
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill("Lopez")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Phone").fill(phone)
    page.get_by_label("ZIP code").fill(zip_code)
    page.get_by_label("Preferred contact method").select_option(label="Text message")
    page.get_by_label("PTSD").check()
    page.get_by_label("Message").fill(message)
    if agree:
        page.get_by_label("I agree").check()


def test_article_form_to_thank_you_page(app, live_server, page, screenshot):
    slug = article_slug(app)
    page.goto(f"{live_server.url}/")
    page.locator(f'a[href="/articles/{slug}"]').first.click()
    expect(page.get_by_role("heading", name="Contact our offices")).to_be_visible()
    screenshot(page, "article-1280")
    fill_form(page)
    page.get_by_label("Preferred location").select_option(label="Columbia, MD")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r"/thanks/"))
    text = page.locator("main").inner_text()
    screenshot(page, "thanks-1280")
    with app.app_context():
        lead = db.session.scalar(select(Lead))
        assert lead.first_name == "Maria" and lead.phone == "+13015550162" and lead.help_with == "ptsd"
        assert lead.contact_method == "text" and lead.location.slug == "columbia-md"
        assert lead.source_article == slug
    assert REFERENCE_RE.search(text).group(0) == lead.reference
    assert "Columbia, MD" in text and "988" in text


def test_errors_show_summary_field_messages_and_keep_values(app, live_server, page, screenshot):
    page.goto(f"{live_server.url}/contact")
    fill_form(page, first="", email="not-an-email", phone="12", zip_code="123", agree=False)
    page.get_by_label("OK to send me texts").check()
    page.get_by_role("button", name="Send").click()
    page.wait_for_load_state()
    summary = page.locator(".error-summary")
    assert summary.is_visible()
    # Focus moved to the summary without any script.
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    for name, words in [("First name", "first name"), ("Email", "email address"), ("Phone", "phone number"),
                        ("ZIP code", "ZIP code"), ("I agree", "agree")]:
        control = page.get_by_label(name)
        assert control.get_attribute("aria-invalid") == "true", name
        described = control.get_attribute("aria-describedby")
        error_id = [i for i in described.split() if i.endswith("-error")][0]
        assert words.lower() in page.locator(f"#{error_id}").inner_text().lower(), name
    # The summary's links lead to the fields.
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.id") == "first_name"
    # Every typed value is still there.
    assert page.get_by_label("Email").input_value() == "not-an-email"
    assert page.get_by_label("Phone").input_value() == "12"
    assert page.get_by_label("Message").input_value() == "Could someone call me about infusions?"
    assert page.get_by_label("PTSD").is_checked() and page.get_by_label("OK to send me texts").is_checked()
    assert page.get_by_label("Preferred contact method").input_value() == "text"
    page.set_viewport_size({"width": 375, "height": 800})
    screenshot(page, "contact-errors-375")
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, "contact-errors-1280")

    # Fix them and send.
    page.get_by_label("First name").fill("Maria")
    page.get_by_label("Email").fill("maria@example.com")
    page.get_by_label("Phone").fill("")
    page.get_by_label("ZIP code").fill("22030")
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r"/thanks/"))
    assert "Fairfax, VA" in page.locator("main").inner_text()


def test_works_with_javascript_off(app, live_server, playwright_browser):
    context = playwright_browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{live_server.url}/articles/{article_slug(app)}")
        fill_form(page)
        page.get_by_role("button", name="Send").click()
        page.wait_for_url(re.compile(r"/thanks/"))
        assert "Bethesda, MD" in page.locator("main").inner_text()
        with app.app_context():
            assert len(db.session.scalars(select(Lead)).all()) == 1
        # The error path works without script too.
        page.goto(f"{live_server.url}/contact")
        page.get_by_role("button", name="Send").click()
        page.wait_for_load_state()
        assert page.locator(".error-summary").is_visible()
    finally:
        context.close()


@pytest.mark.parametrize("width", [375, 1280])
def test_screenshots_of_every_public_page(app, live_server, browser_context, screenshot, width):
    page = browser_context.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    slug = article_slug(app)
    for name, path in [("index", "/"), ("article", f"/articles/{slug}"), ("contact", "/contact"),
                       ("locations", "/locations")]:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200
        # Nothing wider than the screen: no sideways scrolling on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        screenshot(page, f"{name}-{width}")
    page.goto(f"{live_server.url}/contact")
    fill_form(page, message="I have been thinking about suicide.")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r"/thanks/"))
    first = page.locator("main .notice-urgent")
    assert first.is_visible() and "988" in first.inner_text() and "911" in first.inner_text()
    screenshot(page, f"thanks-urgent-{width}")


@requires_axe
def test_states_reached_by_post_have_no_serious_axe_violations(app, live_server, page):
    """Pages a GET cannot show: the form with errors, the CSRF re-render, the urgent thank-you page."""
    found = {}
    page.goto(f"{live_server.url}/articles/{article_slug(app)}")
    fill_form(page, first="", email="bad", phone="1", zip_code="1", agree=False)
    page.get_by_role("button", name="Send").click()
    page.wait_for_load_state()
    assert page.locator(".error-summary").is_visible()
    found["article with errors"] = serious_axe_violations(page)

    page.goto(f"{live_server.url}/contact")
    fill_form(page)
    page.evaluate("document.querySelector('input[name=csrf_token]').value = 'stale'")
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Send").click()
    assert nav.value.status == 400
    found["csrf re-render"] = serious_axe_violations(page)

    page.goto(f"{live_server.url}/contact")
    fill_form(page, message="I want to end my life")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r"/thanks/"))
    found["urgent thanks"] = serious_axe_violations(page)
    assert found == {k: [] for k in found}
