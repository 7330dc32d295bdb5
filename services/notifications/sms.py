"""Texts: how long a body is in segments, the keywords people text back, and a client for a
Twilio-shaped Messages API whose every answer comes back as an outcome value."""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import phonenumbers
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from services.notifications import store as stored

# --- Segments ------------------------------------------------------------------------------
# GSM 03.38: the basic table costs one septet a character, the extension table two (an escape
# and the character). One character outside both makes the whole text UCS-2.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

Encoding = Literal["GSM-7", "UCS-2"]
# (one segment alone, each part of a longer text): a longer text spends some of every part on
# the header that tells phones how to join the parts back together.
CAPACITY: dict[Encoding, tuple[int, int]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


def encoding_of(body: str) -> Encoding:
    return "GSM-7" if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in body) else "UCS-2"


def _costs(body: str, encoding: Encoding) -> list[int]:
    if encoding == "GSM-7":
        return [2 if c in GSM7_EXTENSION else 1 for c in body]
    # UCS-2 counts UTF-16 code units: a character beyond the BMP (most emoji) is a surrogate pair.
    return [2 if ord(c) > 0xFFFF else 1 for c in body]


def segment_count(body: str) -> int:
    """How many segments the text is sent (and billed) as; 0 for an empty body."""
    encoding = encoding_of(body)
    single, part = CAPACITY[encoding]
    costs = _costs(body, encoding)
    if sum(costs) <= single:
        return 1 if costs else 0
    # Parts are filled one character at a time: an escape pair or a surrogate pair is never split
    # across two parts, so a part may end a unit short.
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part:
            parts, used = parts + 1, 0
        used += cost
    return parts


def fit(text: str, link: str = "", max_segments: int = 2) -> str:
    """`text`, then `link` after a space, cut to at most `max_segments` segments.

    The link is never cut (a text is mostly there to carry it): the text is shortened at a word
    boundary and marked with an ellipsis instead. Raises ValueError if the link alone is too long.
    """
    tail = f" {link}" if link else ""
    whole = (text + tail).strip()
    if segment_count(whole) <= max_segments:
        return whole
    if segment_count(link) > max_segments:
        raise ValueError(f"the link alone needs more than {max_segments} segments")
    best = link
    for cut in _cut_points(text):
        kept = text[:cut].rstrip()
        # "…" is not GSM-7: it would turn a GSM-7 text into UCS-2 and cost more than half its room.
        ellipsis = "…" if encoding_of(kept + tail) == "UCS-2" else "..."
        candidate = f"{kept}{ellipsis}{tail}"
        if segment_count(candidate) > max_segments:
            break
        best = candidate
    return best


def _cut_points(text: str) -> Iterable[int]:
    """Where the text may be cut, shortest first: after each word, or, inside a word too long to
    keep whole, after any character that does not join to the next one (combining marks, ZWJ
    sequences and variation selectors stay with their base)."""
    spaces = [i for i, c in enumerate(text) if c.isspace() and i > 0 and not text[i - 1].isspace()]
    if spaces:
        return spaces
    return [i for i in range(1, len(text)) if not _joins(text[i - 1], text[i])]


def _joins(before: str, after: str) -> bool:
    return (
        before == "\u200d"
        or after in "\u200d\ufe0e\ufe0f"
        or unicodedata.combining(after) != 0
        or 0x1F3FB <= ord(after) <= 0x1F3FF  # skin tone modifiers
    )


# --- Keywords ------------------------------------------------------------------------------
Keyword = Literal["stop", "start", "help"]
KEYWORDS: dict[str, Keyword] = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), "stop"),
    **dict.fromkeys(("START", "YES", "UNSTOP"), "start"),
    **dict.fromkeys(("HELP", "INFO"), "help"),
}


def keyword(body: str) -> Keyword | None:
    """The carrier keyword a text is, if it is nothing but one: "Stop", " STOP " and "stop." all
    are (people add a full stop); "please stop texting me" is not, as carriers read it."""
    return KEYWORDS.get(body.strip().rstrip(".!").strip().upper())


# --- Phone numbers and signatures ----------------------------------------------------------
def e164(number: str) -> str | None:
    """The number if it is a valid E.164 number (with its + and country code), else None.

    Numbers reach the sender already normalised by the events service; this refuses anything else
    rather than guessing a country.
    """
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return formatted if formatted == number else None


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's request signature: HMAC-SHA1, keyed by the auth token, of the URL followed by each
    POST parameter's name and value in the order of the names (a repeated name's values sorted
    too), base64-encoded."""
    by_name: dict[str, list[str]] = {}
    for name, value in params:
        by_name.setdefault(name, []).append(value)
    payload = url + "".join(
        name + value for name in sorted(by_name) for value in sorted(by_name[name])
    )
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_is_valid(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], given: str
) -> bool:
    return hmac.compare_digest(signature(auth_token, url, params).encode(), given.encode())


# --- Sending -------------------------------------------------------------------------------
OPTED_OUT = 21610
INVALID_NUMBER = 21211
NOT_MOBILE = 21614


@dataclass(frozen=True)
class Sent:
    sid: str
    status: str
    segments: int


@dataclass(frozen=True)
class OptedOut:
    """The recipient texted STOP to the provider; only their START lets us text them again."""


@dataclass(frozen=True)
class InvalidNumber:
    """The number cannot receive texts (malformed, unassigned, or not a mobile): permanent."""

    detail: str


@dataclass(frozen=True)
class Rejected:
    """Any other refusal by the provider (bad sender, account suspended, ...): permanent for this
    text, and worth an operator's look."""

    status: int
    code: int | None
    detail: str


@dataclass(frozen=True)
class RetryLater:
    """Not sent now; try again no sooner than `after`. `maybe_sent` is true when the request may
    have reached the provider (the answer timed out), so a retry could send the text twice."""

    after: timedelta
    reason: str
    maybe_sent: bool = False


SendResult = Sent | OptedOut | InvalidNumber | Rejected | RetryLater

FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)


def retry_delay(attempt: int, retry_after: str | None = None) -> timedelta:
    """How long to wait after failed attempt number `attempt` (1 for the first): doubling from
    30 seconds up to an hour, or longer if the provider's Retry-After asks for it."""
    delay = min(FIRST_RETRY * 2 ** max(attempt - 1, 0), LONGEST_WAIT)
    if retry_after and retry_after.strip().isdigit():
        delay = max(delay, min(timedelta(seconds=int(retry_after)), LONGEST_WAIT))
    return delay


class SmsClient:
    """Sends one text through the Messages API at `api_url`; never raises for what the network or
    the provider answers, so the caller records every outcome the same way."""

    # (connect, read): connecting is quick or broken; the provider answers a send within seconds.
    TIMEOUT = (3.05, 15)

    def __init__(
        self,
        api_url: str,
        account_sid: str,
        auth_token: str,
        sender: str,
        session: requests.Session | None = None,
    ) -> None:
        self.url = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = (account_sid, auth_token)
        self.sender = sender
        self.session = session or requests.Session()

    def send(
        self, to: str, body: str, *, status_callback: str | None = None, attempt: int = 1
    ) -> SendResult:
        if e164(to) is None:
            return InvalidNumber(f"{to!r} is not an E.164 phone number")
        form = {"To": to, "From": self.sender, "Body": body}
        if status_callback:
            form["StatusCallback"] = status_callback
        try:
            response = self.session.post(self.url, data=form, auth=self.auth, timeout=self.TIMEOUT)
        except requests.RequestException as error:
            if _never_reached(error):
                return RetryLater(retry_delay(attempt), f"cannot reach the provider: {error}")
            # The request may have been read and the text sent before the answer was lost.
            return RetryLater(retry_delay(attempt), f"no answer: {error}", maybe_sent=True)
        return self._outcome(response, body, attempt)

    def _outcome(self, response: requests.Response, body: str, attempt: int) -> SendResult:
        status = response.status_code
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if status in (200, 201) and answer.get("sid"):
            segments = answer.get("num_segments")
            return Sent(
                sid=str(answer["sid"]),
                status=str(answer.get("status", "queued")),
                segments=int(str(segments)) if str(segments).isdigit() else segment_count(body),
            )
        if status == 429 or status >= 500:
            retry_after = response.headers.get("Retry-After")
            return RetryLater(retry_delay(attempt, retry_after), f"provider answered {status}")
        code = answer.get("code")
        detail = str(answer.get("message") or response.reason or status)
        if code == OPTED_OUT:
            return OptedOut()
        if code in (INVALID_NUMBER, NOT_MOBILE):
            return InvalidNumber(detail)
        if code == 20429:  # Twilio's own "too many requests" code, sometimes sent with a 400
            return RetryLater(retry_delay(attempt), "provider rate limit")
        return Rejected(status, code if isinstance(code, int) else None, detail)


def _never_reached(error: requests.RequestException) -> bool:
    """True when no connection was made, so the provider cannot have seen the request."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = error.args[0] if error.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError)


# --- Sending with consent ------------------------------------------------------------------
@dataclass(frozen=True)
class NotOptedIn:
    """Not sent, and the provider not asked: the number never opted in, opted out, or is known
    not to take texts (`state` says which; None if it never said)."""

    state: str | None


def send_text(
    store: stored.Store,
    client: SmsClient,
    phone: str,
    body: str,
    *,
    now: datetime,
    attempt: int = 1,
    status_callback: str | None = None,
) -> SendResult | NotOptedIn:
    """Text `body` to `phone` if it may be texted, and remember what the provider taught us about
    the number: an opt-out it knows of (the person texted STOP to it directly), or that the number
    cannot take texts, so neither is asked again."""
    with store.begin() as uow:
        if not stored.may_text(uow, phone):
            return NotOptedIn(stored.sms_state(uow, phone))
    # No transaction is held while the provider answers, which may take seconds.
    result = client.send(phone, body, status_callback=status_callback, attempt=attempt)
    if isinstance(result, OptedOut):
        with store.begin() as uow:
            stored.record_sms_state(uow, phone, stored.OPTED_OUT, f"provider: {OPTED_OUT}", now)
    elif isinstance(result, InvalidNumber):
        with store.begin() as uow:
            stored.record_sms_state(uow, phone, stored.INVALID, f"provider: {result.detail}", now)
    return result
