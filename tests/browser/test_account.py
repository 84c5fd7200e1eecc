"""Sign-in, two-step set-up and sign-out in chromium, by keyboard, and axe on those pages."""

from __future__ import annotations


import pyotp

from tests.conftest import STRONG_PASSWORD

from tests.browser.axe import AXE, requires_axe
from playwright.sync_api import expect


def serious_axe_violations(page) -> list[str]:
    page.evaluate(AXE.read_text())  # evaluate is not subject to the page's CSP
    result = page.evaluate("""() => axe.run(document, {runOnly: {type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})""")
    return [f"{v['id']} ({v['impact']})" for v in result["violations"] if v["impact"] in ("serious", "critical")]


def test_sign_in_set_up_two_step_and_sign_out(live_server, page, make_staff, frozen_clock, screenshot):
    user = make_staff(email="desk@example.org", locations=["bethesda-md"])
    base = live_server.url
    page.goto(f"{base}/staff/leads")
    assert "/staff/login" in page.url  # sent to sign in first

    # By keyboard: the email box has focus, Tab to the password, Enter to send.
    expect(page.get_by_label("Email")).to_be_focused()  # typing before focus lands would lose keys
    page.keyboard.type(user.email)
    page.keyboard.press("Tab")
    page.keyboard.type("not the password, sorry")
    page.keyboard.press("Enter")
    alert = page.get_by_role("alert")
    assert alert.inner_text().strip() == "That email and password do not match an account."
    assert page.get_by_label("Email").input_value() == user.email  # typed email kept
    screenshot(page, "login-failed")

    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/staff/leads")

    page.goto(f"{base}/staff/account/two-step")
    uri = page.locator("details code").text_content()
    secret = pyotp.parse_uri(uri).secret
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).at(frozen_clock.now))
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(page.locator("main")).to_contain_text("Two-step sign-in is on")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/staff/login")
    assert "You are signed out." in page.inner_text("main")

    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/staff/login/code")
    frozen_clock.advance(seconds=30)
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).at(frozen_clock.now))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{base}/staff/leads")


@requires_axe
def test_account_pages_have_no_serious_axe_violations(live_server, page, make_staff):
    user = make_staff(email="desk@example.org", locations=["bethesda-md"])
    base = live_server.url
    found = {}
    page.goto(f"{base}/staff/login")
    found["/staff/login"] = serious_axe_violations(page)
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill("wrong wrong wrong wrong")
    page.get_by_role("button", name="Sign in").click()
    found["/staff/login (failed)"] = serious_axe_violations(page)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/staff/login" not in url)
    for path in ("/staff/account/password", "/staff/account/two-step"):
        page.goto(f"{base}{path}")
        found[path] = serious_axe_violations(page)
    assert {path: v for path, v in found.items() if v} == {}
