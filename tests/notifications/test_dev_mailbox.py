"""Without SMTP_URL, `hearth dev` keeps mail in a dev mailbox a developer can read in the browser;
a production app has no such page."""

from __future__ import annotations

import re

from services.notifications.app import create_app


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
    # The link from the mailbox signs Dana in.
    response = client.submit(url.removeprefix("http://127.0.0.1:8000"), {})
    assert response.status_code == 302, response.text


def test_a_message_not_in_the_mailbox_is_not_found(client):
    assert client.get("/notifications/dev/mailbox/999").status_code == 404


def test_outside_dev_there_is_no_mailbox(stack):
    production = stack.config.with_changes(dev=False)
    app = create_app(production, stack.bus, stack.services["notifications"])
    assert app.test_client().get("/notifications/dev/mailbox").status_code == 404
