"""Texts: segment counting and fitting, the client against a local Twilio-shaped server, consent
per number, and the inbound webhook with its signature check and STOP / START / HELP."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hearth.stack import Stack
from services.notifications import sms
from services.notifications import store as stored
from services.notifications.inbound import OPTED_IN_REPLY, OPTED_OUT_REPLY, PATH
from shared.config import Config
from shared.testing import Browser

from .fake_twilio import FakeTwilio, running

SID, TOKEN, SENDER = "AC0123456789abcdef0123456789abcdef", "secret-auth-token", "+15005550006"
PHONE = "+14155550123"
NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
PUBLIC_URL = "https://hearth.example.org"


# --- Segments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "encoding", "segments"),
    [
        ("", "GSM-7", 0),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # an extension character costs two septets: 160
        ("a" + "€" * 80, "GSM-7", 2),
        ("a" * 70, "GSM-7", 1),
        ("é" * 160, "GSM-7", 1),  # é is in GSM-7's basic table
        ("ê" * 70, "UCS-2", 1),  # ê is not: UCS-2
        ("ê" * 71, "UCS-2", 2),
        ("a" * 69 + "🙂", "UCS-2", 2),  # an emoji is two UTF-16 units: 71
        ("a" * 68 + "🙂", "UCS-2", 1),
        ("a" * 133 + "ê", "UCS-2", 2),
        ("a" * 134 + "ê", "UCS-2", 3),
    ],
)
def test_a_body_is_counted_in_the_segments_carriers_bill(body, encoding, segments):
    assert sms.encoding_of(body) == encoding
    assert sms.segment_count(body) == segments


def test_one_non_gsm_character_makes_the_whole_text_ucs2():
    assert sms.segment_count("a" * 100) == 1
    assert sms.segment_count("a" * 99 + "🙂") == 2


def test_an_escape_or_a_surrogate_pair_is_never_split_across_parts():
    # 152 septets then € (2): the € does not fit in the first part's 153, so it starts a second.
    assert sms.segment_count("a" * 152 + "€" + "a" * 152) == 3
    assert sms.segment_count("a" * 151 + "€" + "a" * 152) == 2
    # 66 units then an emoji (2): 68 > 67, so the emoji moves to the second part.
    assert sms.segment_count("ê" * 66 + "🙂" + "ê" * 66) == 3
    assert sms.segment_count("ê" * 65 + "🙂" + "ê" * 67) == 2


LINK = "https://hearth.example.org/r/Ab3dE"


def test_a_text_that_fits_is_left_alone():
    assert sms.fit("Peer lunch today 12:00", LINK) == f"Peer lunch today 12:00 {LINK}"
    assert sms.fit("No link at all") == "No link at all"


def test_a_long_text_is_cut_at_a_word_and_keeps_its_link_whole():
    text = "Reminder: Peer lunch at Rosa's Kitchen, " + "with lots of words " * 30
    fitted = sms.fit(text, LINK, max_segments=2)
    assert fitted.endswith(f"... {LINK}")
    assert sms.segment_count(fitted) == 2
    kept = fitted.removesuffix(f"... {LINK}")
    assert text.startswith(kept)
    assert text[len(kept)] == " ", "cut inside a word"
    # As long as it can be: one more word would not fit.
    next_word = text[len(kept) :].split()[0]
    assert sms.segment_count(f"{kept} {next_word}... {LINK}") > 2


def test_a_ucs2_text_is_cut_with_a_real_ellipsis_and_fits_one_segment():
    text = "Célébration 🎉 pour Noor demain à 18:00, apportez un petit mot " * 3
    fitted = sms.fit(text, LINK, max_segments=1)
    assert fitted.endswith(f"… {LINK}")
    assert sms.segment_count(fitted) == 1


def test_a_gsm_text_is_not_made_ucs2_by_its_ellipsis():
    fitted = sms.fit("word " * 100, LINK, max_segments=1)
    assert sms.encoding_of(fitted) == "GSM-7"
    assert len(fitted) <= 160


def test_a_single_word_longer_than_the_room_is_cut_between_characters_not_inside_an_emoji():
    fitted = sms.fit("👩‍👩‍👧" * 40, max_segments=1)
    assert sms.segment_count(fitted) == 1
    assert not fitted.removesuffix("…").endswith("\u200d")


def test_a_link_too_long_for_the_room_is_refused():
    with pytest.raises(ValueError):
        sms.fit("Hi", "https://example.org/" + "x" * 400, max_segments=2)


# --- Keywords, numbers, backoff ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", "stop"),
        ("  stop \n", "stop"),
        ("Stop.", "stop"),
        ("stopall", "stop"),
        ("Unsubscribe", "stop"),
        ("cancel", "stop"),
        ("END", "stop"),
        ("quit", "stop"),
        ("start", "start"),
        ("Yes", "start"),
        ("UNSTOP", "start"),
        ("help", "help"),
        ("info", "help"),
        ("please stop", None),
        ("stopping by later", None),
        ("", None),
    ],
)
def test_keywords_are_whole_texts_in_any_case(body, expected):
    assert sms.keyword(body) == expected


def test_only_valid_e164_numbers_are_accepted():
    assert sms.e164("+14155550123") == "+14155550123"
    assert sms.e164("+442071838750") == "+442071838750"
    assert sms.e164("4155550123") is None  # no country code: not guessed
    assert sms.e164("+1 415 555 0123") is None  # not in E.164 form
    assert sms.e164("+1415555") is None
    assert sms.e164("hello") is None


def test_retries_wait_longer_each_time_and_honour_retry_after():
    delays = [sms.retry_delay(attempt) for attempt in range(1, 10)]
    assert delays[0] == timedelta(seconds=30)
    assert delays == sorted(delays)
    assert delays[-1] == timedelta(hours=1)
    assert sms.retry_delay(1, "120") == timedelta(seconds=120)
    assert sms.retry_delay(1, "soon") == timedelta(seconds=30)


def test_the_signature_matches_twilios_published_example():
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert sms.signature("12345", url, params.items()) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


# --- The client against a local Twilio-shaped server ---------------------------------------


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with running() as fake:
        yield fake


@pytest.fixture
def client_sms(twilio: FakeTwilio) -> Iterator[sms.SmsClient]:
    client = sms.SmsClient(twilio.url, SID, TOKEN, SENDER)
    yield client
    client.session.close()


def test_a_text_is_posted_with_basic_auth_and_the_contracts_fields(twilio, client_sms):
    result = client_sms.send(PHONE, "Peer lunch at 12:00", status_callback=f"{PUBLIC_URL}/cb")

    assert isinstance(result, sms.Sent)
    assert result.sid.startswith("SM") and result.status == "queued" and result.segments == 1
    [request] = twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.auth == (SID, TOKEN)
    assert request.form == {
        "To": PHONE,
        "From": SENDER,
        "Body": "Peer lunch at 12:00",
        "StatusCallback": f"{PUBLIC_URL}/cb",
    }


def test_a_malformed_number_is_invalid_without_asking_the_provider(twilio, client_sms):
    assert isinstance(client_sms.send("555-0123", "Hi"), sms.InvalidNumber)
    assert twilio.requests == []


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_server_errors_are_retried_later(twilio, client_sms, status):
    twilio.answer(status, {"code": 20429, "message": "busy"})
    twilio.answer(status)

    first = client_sms.send(PHONE, "Hi", attempt=1)
    second = client_sms.send(PHONE, "Hi", attempt=2)

    assert isinstance(first, sms.RetryLater) and isinstance(second, sms.RetryLater)
    assert first.after == timedelta(seconds=30) and second.after == timedelta(seconds=60)
    assert not first.maybe_sent
    assert len(twilio.requests) == 2, "the client retried by itself instead of waiting"


def test_retry_after_from_the_provider_is_respected(twilio, client_sms):
    twilio.answer(429, Retry_After="300")
    result = client_sms.send(PHONE, "Hi")
    assert isinstance(result, sms.RetryLater) and result.after == timedelta(seconds=300)


def test_an_unreachable_provider_is_retried_later_as_never_sent(twilio, client_sms):
    client = sms.SmsClient("http://127.0.0.1:9", SID, TOKEN, SENDER)
    try:
        result = client.send(PHONE, "Hi")
    finally:
        client.session.close()
    assert isinstance(result, sms.RetryLater) and not result.maybe_sent


def test_a_provider_that_does_not_answer_in_time_may_have_sent(twilio, client_sms):
    client_sms.TIMEOUT = (1, 0.2)
    twilio.answer(201, {"sid": "SMlate", "status": "queued"}, delay=0.6)
    result = client_sms.send(PHONE, "Hi")
    assert isinstance(result, sms.RetryLater) and result.maybe_sent


def test_other_refusals_are_permanent_and_say_why(twilio, client_sms):
    twilio.answer(400, {"code": 21606, "message": "The From number is not a valid sender"})
    result = client_sms.send(PHONE, "Hi")
    assert result == sms.Rejected(400, 21606, "The From number is not a valid sender")


# --- Sending with consent ------------------------------------------------------------------


def notifications(stack: Stack) -> stored.Store:
    service = stack.services["notifications"]
    return stored.Store(service.engine, service.outbox)


def opt_in(stack: Stack, phone: str = PHONE) -> None:
    with notifications(stack).begin() as uow:
        stored.record_sms_state(uow, phone, stored.OPTED_IN, "preferences page", NOW)


def state_of(stack: Stack, phone: str = PHONE) -> str | None:
    with notifications(stack).begin() as uow:
        return stored.sms_state(uow, phone)


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_the_newest_change_of_consent_wins(stack):
    assert state_of(stack) is None
    opt_in(stack)
    with notifications(stack).begin() as uow:
        assert stored.may_text(uow, PHONE)
        stored.record_sms_state(uow, PHONE, stored.OPTED_OUT, "text: STOP", NOW)
        assert not stored.may_text(uow, PHONE)
    assert state_of(stack) == stored.OPTED_OUT
    assert state_of(stack, "+14155550199") is None


def test_a_number_that_never_opted_in_is_not_texted(stack, twilio, client_sms):
    result = sms.send_text(notifications(stack), client_sms, PHONE, "Hi", now=NOW)
    assert result == sms.NotOptedIn(None)
    assert twilio.requests == []


def test_an_opted_in_number_is_texted(stack, twilio, client_sms):
    opt_in(stack)
    result = sms.send_text(notifications(stack), client_sms, PHONE, "Hi", now=NOW)
    assert isinstance(result, sms.Sent)
    assert [r.form["To"] for r in twilio.requests] == [PHONE]


def test_an_opt_out_the_provider_knows_of_stops_every_later_text(stack, twilio, client_sms):
    opt_in(stack)
    twilio.opted_out()

    first = sms.send_text(notifications(stack), client_sms, PHONE, "Hi", now=NOW)
    later = sms.send_text(notifications(stack), client_sms, PHONE, "Hi again", now=NOW)

    assert first == sms.OptedOut()
    assert later == sms.NotOptedIn(stored.OPTED_OUT)
    assert len(twilio.requests) == 1, "texted a number that opted out"
    with notifications(stack).begin() as uow:
        assert not stored.may_text(uow, PHONE)


def test_an_invalid_number_is_recorded_and_never_tried_again(stack, twilio, client_sms):
    opt_in(stack)
    twilio.invalid_number()

    first = sms.send_text(notifications(stack), client_sms, PHONE, "Hi", now=NOW)
    later = sms.send_text(notifications(stack), client_sms, PHONE, "Hi", now=NOW)

    assert isinstance(first, sms.InvalidNumber)
    assert later == sms.NotOptedIn(stored.INVALID)
    assert len(twilio.requests) == 1


def test_a_retry_changes_nothing_about_the_number(stack, twilio, client_sms):
    opt_in(stack)
    twilio.answer(500)
    assert isinstance(
        sms.send_text(notifications(stack), client_sms, PHONE, "Hi", now=NOW), sms.RetryLater
    )
    assert state_of(stack) == stored.OPTED_IN


# --- The inbound webhook -------------------------------------------------------------------


@pytest.fixture
def config(config: Config) -> Config:
    """The stack of conftest.py, with an SMS provider and a public URL unlike the test client's."""
    return config.with_changes(
        base_url=PUBLIC_URL,
        sms_api_url="http://127.0.0.1:9",
        sms_account_sid=SID,
        sms_auth_token=TOKEN,
        sms_from=SENDER,
    )


def twilio_signature(token: str, url: str, form: dict[str, str]) -> str:
    """Twilio's documented algorithm, written out again here rather than calling the code under
    test: the URL, then each parameter name and value in name order, HMAC-SHA1, base64."""
    data = url + "".join(name + form[name] for name in sorted(form))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def text_in(client, body: str, phone: str = PHONE, *, signature: str | None = None, url=None):
    form = {
        "MessageSid": "SM0000000000000000000000000000abcd",
        "AccountSid": SID,
        "From": phone,
        "To": SENDER,
        "Body": body,
        "NumMedia": "0",
    }
    if signature is None:
        signature = twilio_signature(TOKEN, url or PUBLIC_URL + PATH, form)
    return client.post(PATH, data=form, headers={"X-Twilio-Signature": signature})


def reply_of(response) -> str:
    assert response.status_code == 200, response.text
    assert response.mimetype == "text/xml"
    return response.text


def test_stop_opts_the_number_out_and_says_how_to_come_back(client, stack):
    opt_in(stack)
    response = text_in(client, " Stop ")
    assert reply_of(response) == (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Message>{OPTED_OUT_REPLY}</Message></Response>"
    )
    assert "Reply START to resubscribe" in OPTED_OUT_REPLY
    assert state_of(stack) == stored.OPTED_OUT


@pytest.mark.parametrize("word", ["STOPALL", "unsubscribe", "Cancel", "end", "QUIT"])
def test_every_opt_out_keyword_opts_out(client, stack, word):
    opt_in(stack)
    text_in(client, word)
    assert state_of(stack) == stored.OPTED_OUT


@pytest.mark.parametrize("word", ["START", "yes", "Unstop"])
def test_start_opts_back_in_and_confirms(client, stack, word):
    text_in(client, "STOP")
    response = text_in(client, word)
    assert f"<Message>{OPTED_IN_REPLY.replace('&', '&amp;')}</Message>" in reply_of(response)
    assert "Reply HELP for help, STOP to unsubscribe" in OPTED_IN_REPLY
    assert state_of(stack) == stored.OPTED_IN


def test_start_lets_a_number_the_provider_called_invalid_be_texted_again(client, stack):
    with notifications(stack).begin() as uow:
        stored.record_sms_state(uow, PHONE, stored.INVALID, "provider: 21211", NOW)
    text_in(client, "START")
    assert state_of(stack) == stored.OPTED_IN


@pytest.mark.parametrize("word", ["HELP", "info"])
def test_help_says_how_to_reach_people_and_how_to_stop(client, stack, word):
    opt_in(stack)
    reply = reply_of(text_in(client, word))
    assert "organizer" in reply and PUBLIC_URL in reply and "Reply STOP to unsubscribe" in reply
    assert state_of(stack) == stored.OPTED_IN, "HELP changed the number's consent"


def test_other_texts_get_no_reply_and_change_nothing(client, stack):
    opt_in(stack)
    reply = reply_of(text_in(client, "running 5 min late, sorry! can you stop by after?"))
    assert reply == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    assert state_of(stack) == stored.OPTED_IN


def test_a_tampered_text_is_refused(client, stack):
    opt_in(stack)
    form = {"From": PHONE, "Body": "HELP"}
    signature = twilio_signature(TOKEN, PUBLIC_URL + PATH, form)
    response = client.post(
        PATH, data={**form, "Body": "STOP"}, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403
    assert state_of(stack) == stored.OPTED_IN


@pytest.mark.parametrize(
    "signature",
    [
        "",  # missing
        "not-base64-at-all",
        twilio_signature("another-token", PUBLIC_URL + PATH, {"From": PHONE, "Body": "STOP"}),
    ],
)
def test_a_missing_or_wrong_signature_is_refused(client, stack, signature):
    opt_in(stack)
    response = text_in(client, "STOP", signature=signature)
    assert response.status_code == 403
    assert state_of(stack) == stored.OPTED_IN


def test_the_signature_covers_the_public_url_not_the_one_the_process_sees(client, stack):
    # The test client calls http://localhost/...; the provider signed the public https URL.
    response = text_in(client, "STOP", url="http://localhost" + PATH)
    assert response.status_code == 403
    assert state_of(stack) is None


def test_without_an_auth_token_every_inbound_text_is_refused(stack, config):
    unverifiable = Stack(config.with_changes(sms_auth_token=None))
    try:
        response = text_in(Browser(unverifiable.wsgi()), "STOP")
    finally:
        unverifiable.stop()
    assert response.status_code == 403
    assert state_of(stack) is None
