"""The signed-in member's own page: the events and dates they answered, and their calendar feed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app, render_template, request

from services.events import calendar, feeds
from services.events.auth import current_member_id
from services.events.model import CANCELLED, Event, Occurrence
from services.events.pages import bp, store
from services.events.pages.errors import sign_in_redirect
from services.events.pages.words import occurrence_words

# The answers the page lists, in its words; a "no" or a withdrawn answer is not listed.
ANSWER_WORDS = {
    "confirmed": "You're going",
    "waitlisted": "You're on the waitlist",
    "maybe": "Maybe",
}


@bp.get("/me/events")
def my_events() -> Any:
    """Every date still to come that the member answered, in all their communities, soonest
    first; below, their personal calendar feed (which /me/calendar replaces)."""
    member_id = current_member_id()
    if member_id is None:
        return sign_in_redirect()
    now = datetime.now(UTC)
    with store().begin() as uow:
        member = uow.member_by_id(member_id)
        if member is None:
            return sign_in_redirect()
        answered = uow.answered_ahead(member, tuple(ANSWER_WORDS), now)
        communities = uow.communities_of(member_id)
        generation = uow.feed_generation(member_id)
    upcoming = []
    for answer in answered:
        event = answer.event
        # A surprise stays hidden from its honoree, and an event of a community the member has
        # left is no longer theirs to open.
        if not event.visible_to(answer.role, answer.community, member.email):
            continue
        occurrence = answered_date(event, answer.occurrence)
        if occurrence is None or occurrence.ends_at <= now:
            continue
        upcoming.append(
            {
                "event": event,
                "community": answer.community,
                "title": event.occurrence_text(occurrence, "title"),
                "starts_at": occurrence.starts_at,
                "all_day": occurrence.all_day,
                "when": occurrence_words(occurrence),
                "cancelled": occurrence.status == CANCELLED,
                "status": answer.status,
                "answer": ANSWER_WORDS[answer.status],
            }
        )
    upcoming.sort(key=lambda item: (item["starts_at"], item["title"]))
    path = feeds.personal_feed_path(
        current_app.config["SECRET_KEY"], member_id, int(generation or 0)
    )
    return render_template(
        "my_events.html",
        upcoming=upcoming,
        communities=[community for community, _ in communities],
        urls=calendar.https_and_webcal(current_app.config["HEARTH_BASE_URL"], path),
        renewed=bool(request.args.get("renewed")),
    )


def answered_date(event: Event, key: str) -> Occurrence | None:
    """The date an answer names (model.Event.key_of; "" for a one-off event) as it takes place
    now, or None if the series no longer has it."""
    if not key:
        return None if event.rrule else event.occurrence(event.starts_at)
    original = event.original_of(datetime.fromisoformat(key))
    return event.occurrence(original) if event.is_occurrence(original) else None
