"""Calendar feeds: each community's, each member's "my events", and one event's .ics download.

A feed is put together from the events' stored calendar texts (services.events.calendar). Each
server process keeps the bytes it put together; the database keeps the feed's ETag and
Last-Modified and whether something in it changed since. Calendar apps poll feeds for years:
most polls are answered with a 304 or the kept bytes after one small query, and after a change
only the texts rendered since are read.

Addresses are capabilities: a private community's feed needs its token in the URL; a personal
feed's address signs the member's id with a generation number that the member can raise, which
kills the old address (nothing secret is stored, as with sign-in links).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    request,
    url_for,
)

from services.events import operations
from services.events.auth import current_member_id, request_context
from services.events.calendar import CANCELLED_KEPT, calendar, entry, https_and_webcal, vevent
from services.events.model import Community, Event, Member
from services.events.pages.errors import page_errors
from services.events.store import UnitOfWork
from shared.links import token_for, value_of
from shared.web import problem

bp = Blueprint("feeds", __name__)

PERSONAL_FEED = "hearth.personal-feed"
# A feed is rebuilt at least this often even if nothing in it changed, so cancelled events age
# out of it; when the bytes come out the same, its ETag and Last-Modified stay.
REBUILD_AFTER = timedelta(hours=1)
COMMUNITY, MEMBER = "community", "member"
PUBLIC, MEMBERS, PERSONAL = "public", "members", "personal"


# --- Rendering, when an event changes -------------------------------------------------------


def render_event(uow: UnitOfWork, event_id: str, base_url: str) -> None:
    """Render the event's calendar text as it is now, and mark the feeds it is in stale."""
    event = uow.event(event_id)
    if event is None:
        return
    community = uow.community_by_id(event.community_id)
    assert community is not None
    rendered = entry(event, community, base_url)
    uow.save_calendar_entry(
        {
            "event_id": event.id,
            "community_id": community.id,
            "listed": rendered.listed,
            "text": rendered.text,
            "public_text": rendered.public_text,
            "zones": " ".join(rendered.zones),
            "cancelled_at": rendered.cancelled_at,
            "rendered_at": datetime.now(UTC),
        }
    )


# --- Assembling feeds -------------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    body: bytes
    etag: str
    last_modified: datetime


NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Piece:
    rendered_at: datetime
    text: bytes
    zones: tuple[str, ...]


@dataclass(frozen=True)
class Assembly:
    """A feed as one server process holds it: its bytes, and the events' texts they were put
    together from, so the next assembly after a change reads only the texts rendered since
    `watermark`. `read_all_at`: when every text was last read (they are, every REBUILD_AFTER)."""

    feed: Feed
    pieces: dict[str, Piece] = field(default_factory=dict)
    watermark: datetime = NEVER
    read_all_at: datetime = NEVER

    @property
    def size(self) -> int:
        return 2 * len(self.feed.body)


class FeedCache:
    """The feeds a server process assembled, least recently used dropped first beyond
    `max_bytes`. The database says which bytes are current (their ETag); this holds them."""

    def __init__(self, max_bytes: int = 256 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._held: OrderedDict[tuple[str, str, str], Assembly] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> Assembly | None:
        with self._lock:
            held = self._held.get(key)
            if held is not None:
                self._held.move_to_end(key)
            return held

    def put(self, key: tuple[str, str, str], assembly: Assembly) -> None:
        with self._lock:
            self._held[key] = assembly
            self._held.move_to_end(key)
            total = sum(held.size for held in self._held.values())
            while total > self.max_bytes and len(self._held) > 1:
                _, dropped = self._held.popitem(last=False)
                total -= dropped.size


# Entries rendered this long before the newest one seen are looked at again at the next
# assembly: a render that committed late (it began before, ended after) is not missed. Only
# those whose text changed are read.
SETTLE = timedelta(seconds=30)
LISTED_IN = {PUBLIC: ("public",), MEMBERS: ("public", "members")}


def community_feed(uow: UnitOfWork, cache: FeedCache, community: Community, view: str) -> Feed:
    now = datetime.now(UTC)
    key = (COMMUNITY, community.id, view)
    state = uow.feed_state(*key)
    held = cache.get(key)
    if held is not None and _current(state, held, now):
        return held.feed
    if held is None or held.read_all_at < now - REBUILD_AFTER:
        versions = uow.calendar_versions(community.id)
        pieces: dict[str, Piece] = {}
        watermark, read_all_at = NEVER, now
    else:
        # Since the last assembly: the entries rendered again; each says whether it is still in.
        versions = uow.calendar_versions(community.id, held.watermark - SETTLE)
        pieces = dict(held.pieces)
        watermark, read_all_at = held.watermark, held.read_all_at
    since = now - CANCELLED_KEPT
    wanted = {}
    for version in versions:
        watermark = max(watermark, version.rendered_at)
        listed = version.listed in LISTED_IN[view]
        if listed and (version.cancelled_at is None or version.cancelled_at >= since):
            piece = pieces.get(version.event_id)
            if piece is None or piece.rendered_at != version.rendered_at:
                wanted[version.event_id] = tuple(version.zones.split())
        else:
            pieces.pop(version.event_id, None)
    for row in uow.calendar_texts(list(wanted), view):
        pieces[row.event_id] = Piece(row.rendered_at, row.text.encode(), wanted[row.event_id])
    ordered = [pieces[event_id] for event_id in sorted(pieces)]
    zones = {zone for piece in ordered for zone in piece.zones}
    body = calendar(community.name, (piece.text for piece in ordered), zones)
    feed = _validated(uow, key, state, body, now)
    cache.put(key, Assembly(feed, pieces, watermark, read_all_at))
    return feed


def personal_feed(uow: UnitOfWork, cache: FeedCache, member: Member, base_url: str) -> Feed:
    """The events a member said yes to, across communities: a one-off event as itself, each date
    of a series as an event of its own (they answer per date). Once-confirmed answers that
    changed stay a while as cancelled, so calendars drop them. Small: put together whole."""
    now = datetime.now(UTC)
    key = (MEMBER, member.id, PERSONAL)
    state = uow.feed_state(*key)
    held = cache.get(key)
    if held is not None and _current(state, held, now):
        return held.feed
    answers = uow.answers_of(member.email, since=now - CANCELLED_KEPT)
    events = {event.id: event for event in uow.events_by_ids(sorted({a.event_id for a in answers}))}
    texts, zones = [], set()
    for answer in answers:
        event = events.get(answer.event_id)
        if event is None or event.is_surprise_for(member.email):
            continue
        # Answers name a date by its key (model.Event.key_of).
        date = datetime.fromisoformat(answer.occurrence) if answer.occurrence else None
        occurrence = event.original_of(date) if date else None
        going = answer.status == "confirmed"
        texts.append(
            vevent(
                event, base_url, members=True, occurrence=occurrence, cancelled=not going
            ).encode()
        )
        if not event.all_day:
            zones.add(event.timezone)
    body = calendar(f"{member.name}: my Hearth events", texts, zones)
    feed = _validated(uow, key, state, body, now)
    cache.put(key, Assembly(feed))
    return feed


def _current(state: Any, held: Assembly, now: datetime) -> bool:
    """Whether the bytes this process holds are the feed's current ones."""
    return (
        state is not None
        and not state.stale
        and state.built_at >= now - REBUILD_AFTER
        and state.etag == held.feed.etag
    )


def _validated(
    uow: UnitOfWork, key: tuple[str, str, str], state: Any, body: bytes, now: datetime
) -> Feed:
    """The validators of freshly assembled bytes, kept for every process: bytes that came out
    the same as before keep their Last-Modified."""
    etag = hashlib.sha256(body).hexdigest()[:32]
    changed = state is None or state.etag != etag
    last_modified = (now if changed else state.last_modified).replace(microsecond=0)
    scope, owner_id, view = key
    uow.save_feed(
        {
            "scope": scope,
            "owner_id": owner_id,
            "view": view,
            "etag": etag,
            "last_modified": last_modified,
            "built_at": now,
            "stale": False,
        }
    )
    return Feed(body, etag, last_modified)


# --- Addresses -------------------------------------------------------------------------------


def personal_feed_path(secret_key: str, member_id: str, generation: int) -> str:
    return f"/feeds/{token_for(secret_key, PERSONAL_FEED, f'{member_id}.{generation}')}.ics"


# --- HTTP ------------------------------------------------------------------------------------


def _calendar_response(feed: Feed, filename: str, private: bool) -> Response:
    response = Response(feed.body, mimetype="text/calendar")
    response.content_type = "text/calendar; charset=utf-8"
    response.set_etag(feed.etag)
    response.last_modified = feed.last_modified
    response.cache_control.max_age = 300
    if private:
        response.cache_control.private = True
    else:
        response.cache_control.public = True
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.make_conditional(request)
    return response


def _store():  # type: ignore[no-untyped-def]
    return current_app.extensions["hearth.store"]


def _cache() -> FeedCache:
    return current_app.extensions["hearth.feeds"]  # type: ignore[no-any-return]


@bp.get("/c/<slug>/feed.ics")
def community_calendar(slug: str) -> Any:
    """Members' view with the community's token; anyone's view of a public community without."""
    token = request.args.get("token")
    with _store().begin() as uow:
        community = uow.community_by_slug(slug)
        if community is None:
            abort(404)
        if token is not None:
            if not _same(token, community.feed_token):
                abort(404)
            view = MEMBERS
        elif community.visibility == "public":
            view = PUBLIC
        else:
            abort(404)
        feed = community_feed(uow, _cache(), community, view)
    return _calendar_response(feed, f"{community.slug}.ics", private=view == MEMBERS)


@bp.get("/feeds/<token>.ics")
def my_calendar_feed(token: str) -> Any:
    value = value_of(current_app.config["SECRET_KEY"], PERSONAL_FEED, token)
    if value is None or "." not in value:
        abort(404)
    member_id, generation = value.rsplit(".", 1)
    with _store().begin() as uow:
        if str(uow.feed_generation(member_id)) != generation:
            abort(404)  # regenerated: the old address is dead
        member = uow.member_by_id(member_id)
        assert member is not None
        feed = personal_feed(uow, _cache(), member, current_app.config["HEARTH_BASE_URL"])
    return _calendar_response(feed, "my-hearth-events.ics", private=True)


@bp.get("/events/<event_id>/calendar.ics")
@page_errors
def event_download(event_id: str) -> Any:
    """One event (a whole series) to add to a calendar, as the person asking may see it."""
    ctx = request_context()
    with _store().begin() as uow:
        event, _, role = operations.event_for(uow, ctx, event_id)
    body = calendar(
        event.title,
        [vevent(event, ctx.base_url, members=role is not None).encode()],
        [event.timezone],
    )
    stamp = (event.updated_at or datetime.now(UTC)).replace(microsecond=0)
    feed = Feed(body, hashlib.sha256(body).hexdigest()[:32], stamp)
    response = _calendar_response(feed, f"{_file_name(event)}.ics", private=True)
    response.headers["Content-Disposition"] = f'attachment; filename="{_file_name(event)}.ics"'
    return response


@bp.get("/api/me/feed")
def my_feed_urls() -> Any:
    """The caller's personal feed address (API token or session)."""
    member_id = current_member_id()
    if member_id is None:
        return problem(401, "Sign in first.", detail="send your API token, or sign in")
    with _store().begin() as uow:
        generation = uow.feed_generation(member_id)
    path = personal_feed_path(current_app.config["SECRET_KEY"], member_id, int(generation or 0))
    return jsonify(https_and_webcal(current_app.config["HEARTH_BASE_URL"], path))


@bp.route("/me/calendar", methods=["GET", "POST"])
def my_calendar() -> Any:
    """The personal feed's address is shown on My events; posting here replaces it, killing
    the old one. A GET (an old bookmark) goes to it there."""
    if request.method == "GET":
        return redirect(url_for("pages.my_events", _anchor="calendar"))
    member_id = current_member_id()
    if member_id is None:
        return redirect(url_for("auth.sign_in", next=request.path))
    with _store().begin() as uow:
        uow.next_feed_generation(member_id)
    return redirect(url_for("pages.my_events", renewed=1, _anchor="calendar"))


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _file_name(event: Event) -> str:
    words = "".join(c if c.isalnum() else "-" for c in event.title.lower()).strip("-")
    return "-".join(part for part in words.split("-") if part)[:60] or "event"
