"""The bytes of a composed mail, as an SMTP server gets them: CRLF lines within the limits of RFC
5322, names and subjects in other scripts as short encoded words, a List-Unsubscribe URL left
whole on its line, and the calendar part of one change the same for everyone told of it but for
their own ATTENDEE line."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage
from typing import Any

import icalendar

from services.notifications.mail import ON_THE_WIRE, UPDATED, Mail
from services.notifications.model import EMAIL, UPDATES, Delivery

MAIL = Mail(
    mail_from="Hearth Gemeinschaft <no-reply@hearth.example>",
    base_url="https://hearth.example",
    secret_key="k" * 32,
)
CHANGED_AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
DATE = {
    "id": "ev1",
    "community_name": "Praxisgemeinschaft Nord",
    "url": "https://hearth.example/events/ev1",
    "timezone": "Europe/Berlin",
    "all_day": False,
    "discreet": False,
    "uid": "ev1@hearth",
    "sequence": 2,
    "title": "Überraschungsfeier für Zoë und die ganze Praxisgemeinschaft, mit Kuchen",
    "description": "Bitte nichts verraten.",
    "location": "Café Lindenblüte, Hinterhof",
    "online_url": None,
    "local_start": "2027-01-14T18:00:00",
    "local_end": "2027-01-14T20:00:00",
    "going": True,
}


def update_for(name: str, address: str) -> Delivery:
    return Delivery(
        id=1,
        key=f"event-updated:ev1:2:{address}:email",
        channel=EMAIL,
        kind=UPDATED,
        recipient=address,
        context={
            "name": name,
            "email": address,
            "manage_url": f"https://hearth.example/rsvps/manage/{'t' * 43}",
            "dates": [DATE],
            "changed": ["starts_at", "ends_at"],
        },
        attempts=0,
        created_at=CHANGED_AT,
        address=address,
        category=UPDATES,
    )


def wire(delivery: Delivery) -> bytes:
    return MAIL.compose(delivery).as_bytes(policy=ON_THE_WIRE)


def headers_of(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert all(not part.defects for part in message.walk())
    return message


def test_lines_end_in_crlf_and_stay_within_the_limits() -> None:
    data = wire(update_for("Ana Lima", "ana@example.org"))
    assert b"\n" not in data.replace(b"\r\n", b""), "a bare LF"
    assert b"\r" not in data.replace(b"\r\n", b""), "a bare CR"
    long = [line for line in data.split(b"\r\n") if len(line) > 78]
    # The one exception to RFC 5322's 78 is within its hard limit of 998.
    assert [line[:17] for line in long] == [b"List-Unsubscribe:"]
    assert all(len(line) <= 998 for line in long)
    assert data.isascii(), "7-bit: every server takes it"


def test_names_and_subjects_in_other_scripts_are_short_encoded_words() -> None:
    name = "Zoë Đặng-Müller, Kinder- und Jugendlichenpsychotherapeutin"
    data = wire(update_for(name, "zoe@example.org"))
    for line in headers_of(data):
        if line.startswith((b"Subject:", b"To:", b" ")):
            for word in re.findall(rb"=\?[^?]+\?[qQbB]\?[^?]*\?=", line):
                assert len(word) <= 75, f"RFC 2047 encoded word too long: {word!r}"
            assert len(line) <= 78, line
    message = parsed(data)
    assert str(message["Subject"]).startswith(f"Changed: {DATE['title']} is now ")
    # Read as RFC 2047 says, ignoring the space between encoded words (Python's address parser
    # keeps it, so `message["To"].addresses` would name "Jugend lichen…").
    raw = email.message_from_bytes(data)["To"]
    assert str(make_header(decode_header(raw))) == f"{name} <zoe@example.org>"
    assert message["To"].addresses[0].addr_spec == "zoe@example.org"
    assert str(message["From"]) == "Hearth Gemeinschaft <no-reply@hearth.example>"


def test_a_name_with_specials_is_quoted() -> None:
    message = parsed(wire(update_for("Lima, Ana (she/her)", "ana@example.org")))
    [to] = message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Lima, Ana (she/her)", "ana@example.org")


def test_the_unsubscribe_url_stays_whole_on_its_header_line() -> None:
    data = wire(update_for("Ana Lima", "ana@example.org"))
    [line] = [line for line in headers_of(data) if line.startswith(b"List-Unsubscribe:")]
    assert re.fullmatch(rb"List-Unsubscribe: <https://hearth\.example/\S+>", line), line
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in headers_of(data)


def calendar_of(data: bytes) -> tuple[str, Any]:
    [part] = [p for p in parsed(data).walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "REQUEST"
    text = part.get_content()
    return text, icalendar.Calendar.from_ical(text)


def test_everyone_told_of_a_change_gets_one_calendar_with_their_own_attendee_line() -> None:
    ana_text, ana = calendar_of(wire(update_for("Ana Lima", "ana@example.org")))
    zoe_text, zoe = calendar_of(wire(update_for("Zoë Đặng, LCSW", "zoe@example.org")))
    for calendar, address, name in ((ana, "ana", "Ana Lima"), (zoe, "zoe", "Zoë Đặng, LCSW")):
        [vevent] = calendar.walk("VEVENT")
        attendee = vevent["ATTENDEE"]
        assert not isinstance(attendee, list), "one ATTENDEE: the recipient only"
        assert str(attendee) == f"mailto:{address}@example.org"
        assert attendee.params["CN"] == name
        assert attendee.params["PARTSTAT"] == "ACCEPTED"
        assert str(vevent["UID"]) == "ev1@hearth" and vevent["SEQUENCE"] == 2
    assert "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" in ana_text

    def without_attendee(text: str) -> str:
        return re.sub(r"\r\nATTENDEE[^\r]*(\r\n [^\r]*)*", "", text)

    assert without_attendee(ana_text) == without_attendee(zoe_text)
