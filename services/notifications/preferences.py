"""The pages behind the links in every mail: a person's preferences (what to receive by email and
by text, the time zone of their quiet hours, opting a phone in to texts), and unsubscribing from
one kind of mail, which mail providers' one-click POST (RFC 8058) reaches too.

No account is needed: each link carries a signed token naming an email address (shared.links).
A signed-in member reaches the same page from the site's menu, which leads to their own link.
Opening a link (GET) only shows a page, because corporate mail scanners open every link in every
mail; changes are POSTs. The preferences form carries a CSRF token; the unsubscribe POST cannot,
since a mail provider sends it without our page or cookies, and the signed token in its URL is
its proof instead (app.py exempts that one view).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from marshmallow import ValidationError

from services.notifications import messages, sms
from services.notifications import store as stored
from services.notifications.model import (
    ANNOUNCEMENTS,
    CHOICES,
    EMAIL,
    QUIET_FROM,
    QUIET_UNTIL,
    REMINDERS,
    SMS,
    TEXT_OPT_IN,
    UPDATES,
    NewDelivery,
    delivery_key,
)
from shared.inputs import phone_e164
from shared.links import address_of, preferences_url, unsubscription_of
from shared.web import correlation_id

PREFERENCES = "/notifications/preferences/<token>"
# The menu's link for a signed-in member; the events service's sign-in page comes back to it.
MY_PREFERENCES = "/notifications/me/preferences"
SIGN_IN_FIRST = f"/sign-in?next={MY_PREFERENCES}"
UNSUBSCRIBE = "/notifications/unsubscribe/<token>"
# The one view a POST reaches without a CSRF token (see the module's docstring and app.py).
ONE_CLICK_VIEW = f"{__name__}.unsubscribe"
# What record_sms_state notes as the source of a consent given or withdrawn here.
SOURCE = "preferences page"

CHANNEL_NAMES = {EMAIL: "Email", SMS: "Texts"}
CHANNEL_WORDS = {EMAIL: "emails", SMS: "texts"}
CATEGORY_WORDS = {
    ANNOUNCEMENTS: ("Announcements", "New events in your communities."),
    UPDATES: ("Updates", "Changes to, and cancellations of, events you're going to."),
    REMINDERS: ("Reminders", "Shortly before events you're going to."),
}
LABELS = {"phone": "Mobile number", "timezone": "Your time zone"}
ZONE_REGIONS = (
    "Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe",
    "Indian", "Pacific",
)  # fmt: skip

BAD_PREFERENCES_LINK = (
    "This link does not open anyone's preferences. Check that you copied the whole link from "
    "your email, or use the link at the foot of any email from Hearth."
)
BAD_UNSUBSCRIBE_LINK = (
    "This is not an unsubscribe link Hearth made. Check that you copied the whole link, or use "
    '"Choose which emails and texts Hearth sends you" at the foot of any email from Hearth.'
)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Choices:
    """What the preferences form says, as a person sees it: the phone as typed, and "" for the
    time zone when quiet hours follow each event's zone."""

    wanted: Mapping[tuple[str, str], bool]
    timezone: str
    phone: str
    text_me: bool


@dataclass(frozen=True)
class TextsChange:
    """What saving did to texts, for the page to tell: the number a confirmation was queued
    for (newly opted in), and the numbers that got texts and no longer do."""

    confirming: str | None = None
    stopped: tuple[str, ...] = ()


def blueprint(clock: Callable[[], datetime] = utc_now) -> Blueprint:
    """The pages, reading the time from `clock` (tests stop it)."""
    bp = Blueprint("notifications_preferences", __name__)

    @bp.get(MY_PREFERENCES)
    def my_preferences() -> Any:
        """A signed-in member's own preferences: the page their address's link opens. Members
        are known by id from the events service's messages; until the first has arrived, the
        address their sign-in link went to (kept in the session since then) will do, and a
        session older than that waits for the message."""
        member_id = session.get("member_id")
        if not isinstance(member_id, str):
            return redirect(SIGN_IN_FIRST, 303)
        with _store().begin() as uow:
            member = uow.member(member_id)
        address = member.email if member is not None else session.get("email")
        if not isinstance(address, str) or not address:
            return _not_known_yet()
        return redirect(_preferences_path(address), 303)

    @bp.get(PREFERENCES)
    def preferences(token: str) -> Any:
        address = _address(token)
        with _store().begin() as uow:
            choices = current_choices(uow, address)
        return _preferences_page(token, address, choices, {})

    @bp.post(PREFERENCES)
    def save(token: str) -> Any:
        address = _address(token)
        choices = posted_choices(request.form)
        phone, errors = checked(choices)
        if errors:
            return _preferences_page(token, address, choices, errors, 422)
        with _store().begin() as uow:
            texts = record(uow, address, choices, phone, clock(), correlation_id())
        flash("Saved.")
        for news in texts_news(texts):
            flash(news)
        # 303: the browser GETs the page, so reloading it does not post the form again.
        return redirect(url_for(".preferences", token=token), 303)

    @bp.get(UNSUBSCRIBE)
    def confirm_unsubscribe(token: str) -> Any:
        """Only asks: a scanner opening the link must change nothing."""
        channel, category, address = _unsubscription(token)
        with _store().begin() as uow:
            already = not uow.wants(address, channel, category)
        return _unsubscribe_page(token, address, channel, category, done=already)

    @bp.post(UNSUBSCRIBE)
    def unsubscribe(token: str) -> Any:
        """The confirm page's button, and mail providers' one-click POST
        (`List-Unsubscribe=One-Click`, no cookies, no CSRF token): both just unsubscribe."""
        channel, category, address = _unsubscription(token)
        with _store().begin() as uow:
            stop(uow, address, channel, category, clock(), correlation_id())
        return _unsubscribe_page(token, address, channel, category, done=True)

    return bp


# --- Reading and checking the form ---------------------------------------------------------


def current_choices(uow: stored.UnitOfWork, address: str) -> Choices:
    """The person's choices as stored, defaults where they chose nothing."""
    phone = uow.phone_of(address)
    return Choices(
        wanted={
            (channel, category): uow.wants(address, channel, category)
            for channel, categories in CHOICES.items()
            for category in categories
        },
        timezone=uow.time_zone_of(address) or "",
        phone=phone or "",
        text_me=phone is not None and stored.may_text(uow, phone),
    )


def posted_choices(form: Mapping[str, str]) -> Choices:
    """The form as sent; an unticked box is simply absent from it."""
    return Choices(
        wanted={
            (channel, category): _field(channel, category) in form
            for channel, categories in CHOICES.items()
            for category in categories
        },
        timezone=form.get("timezone", "").strip(),
        phone=form.get("phone", "").strip(),
        text_me="text_me" in form,
    )


def checked(choices: Choices) -> tuple[str | None, dict[str, str]]:
    """The phone number in E.164 (None if none was given), and what to fix, by field."""
    errors: dict[str, str] = {}  # in the order of the page, as the error summary lists them
    phone = None
    if choices.phone:
        phone = e164_of(choices.phone)
        if phone is None:
            errors["phone"] = (
                "give a mobile number we can text, like (415) 555-0132, with its country code "
                "(+44 …) if it is not a US number"
            )
    elif choices.text_me:
        errors["phone"] = 'give the mobile number to text, or untick "Text me"'
    if choices.timezone and choices.timezone not in known_zones():
        errors["timezone"] = (
            'choose your time zone from the list, or "The event\'s time zone" to have quiet '
            "hours follow each event"
        )
    return phone, errors


def e164_of(typed: str) -> str | None:
    """A number as people type it (a US one may leave out +1) in E.164, or None unless it is
    one the SMS client accepts: refused now, on the page, rather than later by the sender."""
    try:
        normalised = phone_e164(typed)
    except ValidationError:
        return None
    return sms.e164(normalised) if normalised else None


def _field(channel: str, category: str) -> str:
    return f"{channel}_{category}"


@cache
def known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def zone_groups() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The IANA zones people live in, by region (UTC on its own), for the time-zone select."""
    by_region: dict[str, list[str]] = {region: [] for region in ZONE_REGIONS}
    for name in sorted(known_zones()):
        region = name.split("/")[0]
        if region in by_region and "/" in name:
            by_region[region].append(name)
    return (("UTC", ("UTC",)), *((region, tuple(zones)) for region, zones in by_region.items()))


def zones_to_choose(current: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """zone_groups, and first the person's own zone if the regions leave it out (an old name
    like US/Eastern), so saving the page keeps it."""
    listed = {zone for _, zones in zone_groups() for zone in zones}
    if current in known_zones() and current not in listed:
        return (("Your time zone", (current,)), *zone_groups())
    return zone_groups()


# --- Saving ---------------------------------------------------------------------------------


def record(
    uow: stored.UnitOfWork,
    address: str,
    choices: Choices,
    phone: str | None,
    now: datetime,
    correlation: str,
) -> TextsChange:
    """Store what changed, in one transaction with the messages it causes; what became of
    texts."""
    for (channel, category), wanted in choices.wanted.items():
        if wanted:
            if not uow.wants(address, channel, category):
                uow.choose(address, channel, category, True, now)
        else:
            stop(uow, address, channel, category, now, correlation)
    if choices.timezone != (uow.time_zone_of(address) or ""):
        # "" means no zone of one's own: the sender's `time_zone_of(...) or the event's zone`
        # then falls back to the event's, and there is no row to delete.
        uow.set_time_zone(address, choices.timezone, now)
    if choices.text_me:
        assert phone is not None, "checked() requires a phone to text"
        confirming = opt_in(uow, address, phone, choices.timezone or "UTC", now)
        return TextsChange(confirming=phone if confirming else None)
    return TextsChange(stopped=opt_out(uow, [phone, uow.phone_of(address)], now))


def stop(
    uow: stored.UnitOfWork,
    address: str,
    channel: str,
    category: str,
    now: datetime,
    correlation: str,
) -> bool:
    """Unsubscribe `address` from `category` on `channel` and announce it; True if it was
    wanted until now. Doing it twice (a provider retrying its one-click POST) changes nothing
    and announces nothing the second time."""
    if not uow.wants(address, channel, category):
        return False
    uow.choose(address, channel, category, False, now)
    uow.publish(messages.unsubscribed(address, channel, category, correlation, now))
    return True


def opt_in(uow: stored.UnitOfWork, address: str, phone: str, timezone: str, now: datetime) -> bool:
    """Record consent to texts and confirm it with one (carriers expect a confirmation); a
    number already opted in gets no second confirmation. True if a confirmation was queued."""
    if stored.sms_state(uow, phone) == stored.OPTED_IN:
        return False
    stored.record_sms_state(uow, phone, stored.OPTED_IN, SOURCE, now)
    uow.queue_delivery(
        NewDelivery(
            delivery_key(TEXT_OPT_IN, now.isoformat(), phone, SMS),
            channel=SMS,
            kind=TEXT_OPT_IN,
            recipient=phone,
            address=address,
            category=None,
            context={"timezone": timezone},
        ),
        now,
    )
    return True


def opt_out(uow: stored.UnitOfWork, phones: list[str | None], now: datetime) -> tuple[str, ...]:
    """ "Text me" unticked: the numbers shown or typed stop getting texts, if they got them;
    those that did."""
    stopped = []
    for phone in sorted({p for p in phones if p}):
        if stored.sms_state(uow, phone) == stored.OPTED_IN:
            stored.record_sms_state(uow, phone, stored.OPTED_OUT, SOURCE, now)
            stopped.append(phone)
    return tuple(stopped)


def texts_news(change: TextsChange) -> list[str]:
    """What to tell the person about their texts once saved, as it is: consent counts from the
    moment they save and the confirmation is sent at once, quiet hours or not. A number that
    once replied STOP is blocked by the provider until it replies START, whatever we record, so
    a confirmation that never comes says what to do."""
    news = []
    if change.confirming:
        news.append(
            f"Texts to {change.confirming} are on: a text saying so is on its way. If it does "
            "not come and you once replied STOP to Hearth, reply START to that text."
        )
    if change.stopped:
        news.append(f"Hearth sends no more texts to {' or '.join(change.stopped)}.")
    return news


# --- Links and pages --------------------------------------------------------------------------


def _store() -> stored.Store:
    return current_app.extensions["hearth.store"]  # type: ignore[no-any-return]


def _address(token: str) -> str:
    address = address_of(current_app.config["SECRET_KEY"], token)
    if address is None:
        abort(404, description=BAD_PREFERENCES_LINK)
    return address


def _unsubscription(token: str) -> tuple[str, str, str]:
    found = unsubscription_of(current_app.config["SECRET_KEY"], token)
    if found is None or found[1] not in CHOICES.get(found[0], ()):
        abort(404, description=BAD_UNSUBSCRIBE_LINK)
    return found


def _preferences_path(address: str) -> str:
    return preferences_url(current_app.config["SECRET_KEY"], "", address)


def _not_known_yet() -> Any:
    """200, not 404: nothing is missing and nobody did anything wrong; the page is the answer
    for now, and the same link works in a moment. Never stored, so "Try again" asks again."""
    page = render_template("preferences_pending.html", again=MY_PREFERENCES)
    return page, 200, {"Cache-Control": "no-store"}


def _preferences_page(
    token: str, address: str, choices: Choices, errors: dict[str, str], status: int = 200
) -> Any:
    channels = [
        (
            channel,
            CHANNEL_NAMES[channel],
            [
                (
                    _field(channel, category),
                    *CATEGORY_WORDS[category],
                    choices.wanted[(channel, category)],
                )
                for category in categories
            ],
        )
        for channel, categories in CHOICES.items()
    ]
    return render_template(
        "preferences.html",
        token=token,
        address=address,
        choices=choices,
        channels=channels,
        zone_groups=zones_to_choose(choices.timezone),
        quiet_from=f"{QUIET_FROM:%H:%M}",
        quiet_until=f"{QUIET_UNTIL:%H:%M}",
        errors=errors,
        labels=LABELS,
    ), status


def _unsubscribe_page(token: str, address: str, channel: str, category: str, *, done: bool) -> Any:
    return render_template(
        "unsubscribe.html",
        token=token,
        address=address,
        what=f"{category} {CHANNEL_WORDS[channel]}",
        done=done,
        preferences_path=_preferences_path(address),
    )
