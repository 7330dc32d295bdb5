"""Without SMTP_URL, `hearth dev` keeps mail in a dev mailbox a developer can read in the browser,
and can queue the reminders of the coming hours to see them without waiting; a production app
has no such page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.notifications.app import create_app

# An event a day and a half from now (the schedule fixture's base, in the community's zone).
START = (datetime.now(UTC) + timedelta(hours=36)).astimezone(ZoneInfo("America/New_York"))
LUNCH = {
    "kind": "peer_lunch",
    "title": "Peer lunch",
    "starts_at": f"{START:%Y-%m-%dT%H:00}",
    "ends_at": f"{START + timedelta(hours=1):%Y-%m-%dT%H:00}",
    "location": "Juniper Café",
}


def test_without_smtp_the_sign_in_mail_is_in_the_dev_mailbox(client, stack, organizer):
    assert stack.config.smtp_url is None and stack.config.dev
    assert client.submit("/sign-in", {"email": "dana@example.org"}).status_code == 200
    stack.flush()

    listing = client.get("/notifications/dev/mailbox")
    assert listing.status_code == 200
    assert "dana@example.org" in listing.text
    assert "Your sign-in link for Hearth" in listing.text
    [path] = re.findall(r'href="(/notifications/dev/mailbox/\d+)"', listing.text)

    page = client.get(path)
    assert page.status_code == 200
    assert "Auto-Submitted" in page.text and "auto-generated" in page.text
    assert "Message-ID" in page.text
    [url] = set(re.findall(r"(http://127\.0\.0\.1:8000/sign-in/[\w.-]+)", page.text))
    assert "<iframe" in page.text, "the HTML part is shown"
    # Its preview styles itself inline, as mail does: this page alone allows inline styles.
    policy = page.headers["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src" not in policy  # scripts stay at default-src 'self'
    # The link from the mailbox signs Dana in.
    response = client.submit(url.removeprefix("http://127.0.0.1:8000"), {})
    assert response.status_code == 302, response.text


def test_a_message_not_in_the_mailbox_is_not_found(client):
    assert client.get("/notifications/dev/mailbox/999").status_code == 404


def test_outside_dev_there_is_no_mailbox(stack):
    production = stack.config.with_changes(dev=False)
    app = create_app(production, stack.bus, stack.services["notifications"])
    assert app.test_client().get("/notifications/dev/mailbox").status_code == 404


def test_the_reminders_of_the_coming_hours_can_be_queued_to_see_them_now(client, stack, schedule):
    lunch = schedule()
    body = {"name": "Ana", "email": "ana@example.org", "response": "yes"}
    assert client.post(f"/rsvps/api/events/{lunch['id']}/rsvps", json=body).status_code == 201
    stack.flush()
    mailbox = "/notifications/dev/mailbox"
    assert "Tomorrow: Peer lunch" not in client.get(mailbox).text

    # Its day-before reminder is due in about twelve hours: not within six, within fifteen.
    client.submit(f"{mailbox}/reminders", {"hours": "6"}, form_page=mailbox)
    stack.flush()
    assert "Queued 0 reminders" in client.get(mailbox).text
    client.submit(f"{mailbox}/reminders", {"hours": "15"}, form_page=mailbox)
    stack.flush()
    listing = client.get(mailbox).text
    assert "Queued 1 reminder due by" in listing
    assert listing.count("Tomorrow: Peer lunch") == 1
    assert "ana@example.org" in listing

    # Queued once: the worker, when that time comes, and the form again, queue no second one.
    client.submit(f"{mailbox}/reminders", {"hours": "15"}, form_page=mailbox)
    stack.flush()
    assert client.get(mailbox).text.count("Tomorrow: Peer lunch") == 1


def test_queueing_reminders_takes_a_number_of_hours(client, stack):
    mailbox = "/notifications/dev/mailbox"
    for wrong in ("", "0", "a day", "100000"):
        response = client.submit(f"{mailbox}/reminders", {"hours": wrong}, form_page=mailbox)
        assert response.status_code == 302
        assert "Hours from now must be a whole number from 1 to 336." in client.get(mailbox).text
