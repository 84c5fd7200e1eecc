"""The queue and lead pages through HTTP: search by POST, filters in the URL, actions, stale pages."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from intake.extensions import db
from intake.models import AuditEvent, Lead
from tests.helpers import csrf_token, field_value


@pytest.fixture
def desk(app, make_staff, login_as):
    """A signed-in Bethesda front-desk client."""
    user = make_staff(name="Amy Front", locations=["bethesda-md"])
    client = app.test_client()
    login_as(client, user)
    client.user = user
    return client


def page_text(response):
    return response.get_data(as_text=True)


def lead_form(client, lead_id, prefix):
    """The hidden fields a lead page's form carries: CSRF token, version and last seen event."""
    html = page_text(client.get(f"/staff/leads/{lead_id}"))
    return {f"{prefix}-csrf_token": field_value(html, f"{prefix}-csrf_token"),
            f"{prefix}-version": field_value(html, f"{prefix}-version"),
            f"{prefix}-seen": field_value(html, f"{prefix}-seen")}


def timeline(app, lead_id):
    with app.app_context():
        return [(e.action, e.detail) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.lead_id == lead_id).order_by(AuditEvent.id))]


def test_queue_shows_the_columns_and_the_export_link(app, desk, make_lead, frozen_clock):
    lead = make_lead(first_name="Maya", last_name="Okafor", location_choice="bethesda-md",
                     source_article="what-is-ketamine", now=frozen_clock.now - timedelta(hours=5))
    make_lead(first_name="Elsewhere", location_choice="fairfax-va")
    html = page_text(desk.get("/staff/leads"))
    assert lead["reference"] in html and "Maya O." in html and "Okafor" not in html
    assert "Elsewhere" not in html
    assert "Bethesda, MD" in html and "what-is-ketamine" in html and "5 h" in html
    assert "Overdue" in html and "Nobody" in html
    assert re.search(r'<label for="q"[^>]*>Search</label>', html)
    assert re.search(r'href="/staff/leads/export.csv"[^>]*>Export CSV', html)
    # Filters ride along to the export link and into the pager.
    html = page_text(desk.get("/staff/leads?status=new&source=what-is-ketamine"))
    assert 'href="/staff/leads/export.csv?status=new&amp;source=what-is-ketamine"' in html


def test_queue_pages_with_a_next_link(app, desk, make_lead, frozen_clock):
    from intake import queue

    start = frozen_clock.now - timedelta(days=2)
    made = [make_lead(location_choice="bethesda-md", now=start + timedelta(minutes=i))
            for i in range(queue.PAGE_SIZE + 3)]
    html = page_text(desk.get("/staff/leads"))
    assert made[queue.PAGE_SIZE - 1]["reference"] in html and made[queue.PAGE_SIZE]["reference"] not in html
    next_url = re.search(r'href="([^"]+)" rel="next">Next page', html).group(1).replace("&amp;", "&")
    html = page_text(desk.get(next_url))
    assert [m["reference"] for m in made[queue.PAGE_SIZE:]] == re.findall(r'class="ref-link">([^<]+)<', html)
    assert "Next page" not in html and "First page" in html


def test_search_is_posted_kept_in_the_session_and_never_in_a_url(app, desk, make_lead):
    lead = make_lead(first_name="Octavia", phone="+13015550199", location_choice="bethesda-md")
    other = make_lead(first_name="Someone", location_choice="bethesda-md")
    token = csrf_token(desk.get("/staff/leads"))
    response = desk.post("/staff/leads/search?status=new", data={"q": "(301) 555-0199", "csrf_token": token})
    assert response.status_code == 303
    assert "555" not in response.headers["Location"] and response.headers["Location"] == "/staff/leads?status=new"
    html = page_text(desk.get("/staff/leads"))
    assert lead["reference"] in html and other["reference"] not in html
    assert 'value="(301) 555-0199"' in html and "Clear search" in html
    desk.post("/staff/leads/search", data={"q": "", "clear": "1", "csrf_token": token})
    html = page_text(desk.get("/staff/leads"))
    assert other["reference"] in html
    # Without a CSRF token nothing is searched.
    assert desk.post("/staff/leads/search", data={"q": "Octavia"}).status_code == 400


def test_lead_page_shows_everything_escaped_and_records_the_view(app, desk, make_lead):
    lead = make_lead(first_name="<script>alert(1)</script>", last_name="O'Neil", location_choice="bethesda-md",
                     message="I'd like to <b>know</b> more\nabout costs", phone="+13015550123",
                     utm_campaign="spring", source_article="what-is-ketamine")
    html = page_text(desk.get(f"/staff/leads/{lead['id']}"))
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;know&lt;/b&gt;" in html
    assert "chosen by patient" in html.lower() or "Bethesda" in html
    assert "spring" in html and "+13015550123" in html and "I agree" in html
    assert timeline(app, lead["id"])[-1][0] == "viewed"
    with app.app_context():
        viewed = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "viewed"))
        assert viewed.actor_id == desk.user.id and viewed.detail == ""


def test_possible_duplicates_are_linked_only_when_visible(app, desk, make_lead):
    first = make_lead(email="twin@example.com", location_choice="bethesda-md")
    hidden = make_lead(email="twin@example.com", location_choice="fairfax-va")
    with app.app_context():
        db.session.get(Lead, first["id"]).is_open = False
        db.session.commit()
    again = make_lead(email="twin@example.com", location_choice="bethesda-md")
    html = page_text(desk.get(f"/staff/leads/{again['id']}"))
    assert f'href="/staff/leads/{first["id"]}"' in html
    assert hidden["reference"] not in html


def test_one_click_actions_each_leave_a_timeline_event(app, desk, make_lead, make_staff):
    colleague = make_staff(name="Ben Colleague", locations=["bethesda-md"])
    lead = make_lead(location_choice="bethesda-md")
    lid = lead["id"]
    url = f"/staff/leads/{lid}"

    def post(action, prefix, **data):
        form = lead_form(desk, lid, prefix)
        form.update({f"{prefix}-{k}": v for k, v in data.items()})
        response = desk.post(f"{url}/{action}", data=form)
        assert response.status_code == 303 and response.headers["Location"] == url, page_text(response)[:300]
        return timeline(app, lid)[-1]

    assert post("claim", "act") == ("assigned", "claimed by Amy Front")
    assert post("assign", "assign", assignee=str(colleague.id)) == ("assigned", "assigned to Ben Colleague")
    assert post("contact-attempt", "contact", channel="call", outcome="no_answer") == \
        ("contact_attempt", "call: no_answer")
    assert post("status", "status", status="consult_scheduled") == \
        ("status_changed", "contacting -> consult_scheduled")
    assert post("note", "note", text="Asked about parking") == ("note", "Asked about parking")
    assert post("spam", "act") == ("spam_marked", "")
    assert post("not-spam", "act") == ("spam_cleared", "")
    assert post("status", "status", status="closed", reason="chose_another_provider")[0] == "status_changed"
    assert post("reopen", "act") == ("reopened", "closed -> contacting")
    # Refused actions say why, and change nothing.
    before = timeline(app, lid)
    form = lead_form(desk, lid, "status")
    form.update({"status-status": "closed", "status-reason": "unreachable"})
    desk.post(f"{url}/status", data=form)
    assert "after 3 failed contact attempts" in page_text(desk.get(url))
    assert [a for a, _ in timeline(app, lid)] == [a for a, _ in before] + ["viewed", "viewed"]


def test_unreachable_is_offered_after_three_failed_attempts(app, desk, make_lead):
    lead = make_lead(location_choice="bethesda-md")
    url = f"/staff/leads/{lead['id']}"
    assert "Close as unreachable" not in page_text(desk.get(url))
    for _ in range(3):
        form = lead_form(desk, lead["id"], "contact")
        form.update({"contact-channel": "call", "contact-outcome": "voicemail"})
        desk.post(f"{url}/contact-attempt", data=form)
    html = page_text(desk.get(url))
    assert "Close as unreachable" in html and 'value="unreachable"' in html
    desk.post(f"{url}/close", data={**lead_form(desk, lead["id"], "close"), "close-reason": "unreachable"})
    with app.app_context():
        closed = db.session.get(Lead, lead["id"])
        assert (closed.status, closed.close_reason, closed.failed_attempts) == ("closed", "unreachable", 3)


def test_move_sends_the_lead_away_and_back_to_the_queue(app, desk, make_lead):
    lead = make_lead(location_choice="bethesda-md")
    form = lead_form(desk, lead["id"], "move")
    form.update({"move-location": "fairfax-va", "move-reason": "Lives in Fairfax"})
    response = desk.post(f"/staff/leads/{lead['id']}/move", data=form)
    assert response.status_code == 303 and response.headers["Location"] == "/staff/leads"
    assert desk.get(f"/staff/leads/{lead['id']}").status_code == 404
    assert timeline(app, lead["id"])[-1] == ("moved", "bethesda-md -> fairfax-va: Lives in Fairfax")


def test_two_people_at_once_the_second_sees_what_changed(app, desk, make_staff, login_as, make_lead):
    lead = make_lead(location_choice="bethesda-md")
    url = f"/staff/leads/{lead['id']}"
    ben = app.test_client()
    login_as(ben, make_staff(name="Ben", locations=["bethesda-md"]))
    amy_form = lead_form(desk, lead["id"], "status")  # Amy opens the page...
    ben_form = lead_form(ben, lead["id"], "contact")  # ... so does Ben, who logs a call first.
    ben_form.update({"contact-channel": "call", "contact-outcome": "reached", "contact-note": "booked Tuesday"})
    assert ben.post(f"{url}/contact-attempt", data=ben_form).status_code == 303
    amy_form.update({"status-status": "closed", "status-reason": "not_a_fit"})
    response = desk.post(f"{url}/status", data=amy_form)
    html = page_text(response)
    assert response.status_code == 409
    assert "This lead changed since you opened it" in html
    assert "Contact attempt" in html and "by Ben" in html and "Call: Reached - booked Tuesday" in html
    with app.app_context():
        fresh = db.session.get(Lead, lead["id"])
        assert fresh.status == "contacting" and fresh.close_reason is None
    # The refreshed page carries the new version: trying again works.
    retry = {**lead_form(desk, lead["id"], "status"), "status-status": "closed", "status-reason": "not_a_fit"}
    assert desk.post(f"{url}/status", data=retry).status_code == 303


def test_actions_need_csrf(app, desk, make_lead):
    lead = make_lead(location_choice="bethesda-md")
    response = desk.post(f"/staff/leads/{lead['id']}/claim", data={"act-version": "1"})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.get(Lead, lead["id"]).assignee_id is None


def test_views_are_summed_up_not_listed_in_the_timeline(app, desk, make_lead):
    lead = make_lead(location_choice="bethesda-md")
    for _ in range(3):
        html = page_text(desk.get(f"/staff/leads/{lead['id']}"))
    assert "Opened 3 times; last by Amy Front" in html
    timeline_html = html.split('id="h-timeline"', 1)[1].split("</ol>", 1)[0]
    assert "Inquiry received" in timeline_html and "Viewed" not in timeline_html
    assert [a for a, _ in timeline(app, lead["id"])].count("viewed") == 3  # the audit trail keeps each one


def test_lead_page_selects_that_always_hold_a_value_are_not_marked_required(desk, make_lead):
    html = page_text(desk.get(f"/staff/leads/{make_lead(location_choice='bethesda-md')['id']}"))
    for name in ("status-status", "move-location"):
        tag = re.search(rf'<select[^>]*name="{name}"[^>]*>', html).group(0)
        assert "required" not in tag, tag
