"""Persistence of the events service: its tables, queries and the unit of work with the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

import shared.outbox
from services.events.model import Community, Event, Member, Override
from shared.db import UTCDateTime, insert, metadata
from shared.outbox import inbox_table, outbox_table
from shared.tokens import digest

meta = metadata()

communities = sa.Table(
    "communities",
    meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("slug", sa.String(60), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("visibility", sa.String(20), nullable=False),
    sa.Column("feed_token", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

members = sa.Table(
    "members",
    meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("phone", sa.String(20)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Raised to revoke the member's personal feed URL, which signs the id with this number.
    sa.Column("feed_generation", sa.Integer, nullable=False, server_default="0"),
)

memberships = sa.Table(
    "memberships",
    meta,
    sa.Column("community_id", sa.ForeignKey("communities.id"), primary_key=True),
    sa.Column("member_id", sa.ForeignKey("members.id"), primary_key=True, index=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    meta,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("member_id", sa.ForeignKey("members.id"), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# The link's token is never stored, not even hashed: it is an HMAC of the id (shared.links).
sign_in_links = sa.Table(
    "sign_in_links",
    meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("member_id", sa.ForeignKey("members.id"), nullable=False, index=True),
    sa.Column("next_url", sa.String(500)),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),
)

events = sa.Table(
    "events",
    meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("community_id", sa.ForeignKey("communities.id"), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    # What the organizer chose: wall-clock times in an IANA zone.
    sa.Column("starts_at", sa.DateTime, nullable=False),
    sa.Column("ends_at", sa.DateTime, nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("rrule", sa.String(500)),
    # Derived instants, for range queries: the first start and the last end (None: no end).
    sa.Column("first_start_utc", UTCDateTime, nullable=False),
    sa.Column("last_end_utc", UTCDateTime),
    sa.Column("location", sa.String(500)),
    sa.Column("online_url", sa.String(2000)),
    sa.Column("capacity", sa.Integer),
    # Guests each attendee may bring; NULL: the default for the kind (model.Event.guests_allowed).
    sa.Column("guest_limit", sa.Integer),
    sa.Column("rsvp_deadline", sa.DateTime),
    sa.Column("visibility", sa.String(20), nullable=False),
    sa.Column("honoree_email", sa.String(320)),
    sa.Column("surprise", sa.Boolean, nullable=False, default=False),
    sa.Column("ce_hours", sa.Float),
    sa.Column("presenter", sa.String(200)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    # Whole days: starts_at is the first day's midnight, ends_at the midnight after the last.
    sa.Column("all_day", sa.Boolean, nullable=False, server_default=sa.false()),
    # How far the whole series has moved since first scheduled (model.Event.shift), in seconds.
    sa.Column("shift_seconds", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_by", sa.ForeignKey("members.id")),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_events_community_window", "community_id", "first_start_utc", "last_end_utc"),
)

cancelled_occurrences = sa.Table(
    "cancelled_occurrences",
    meta,
    sa.Column("event_id", sa.ForeignKey("events.id"), primary_key=True),
    sa.Column("original_start", sa.DateTime, primary_key=True),
    sa.Column("cancelled_at", UTCDateTime, nullable=False),
)

# Occurrences of a series changed one by one (model.Override): their new wall times in the
# event's zone, and each text they say differently from the series (NULL: as the series).
occurrence_overrides = sa.Table(
    "occurrence_overrides",
    meta,
    sa.Column("event_id", sa.ForeignKey("events.id"), primary_key=True),
    sa.Column("original_start", sa.DateTime, primary_key=True),
    sa.Column("starts_at", sa.DateTime, nullable=False),
    sa.Column("ends_at", sa.DateTime, nullable=False),
    sa.Column("title", sa.String(200)),
    sa.Column("description", sa.Text),
    sa.Column("location", sa.String(500)),
    sa.Column("online_url", sa.String(2000)),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Seat counts per occurrence, as the rsvps service last announced them ("" for a one-off event).
attendance = sa.Table(
    "attendance",
    meta,
    sa.Column("event_id", sa.ForeignKey("events.id"), primary_key=True),
    sa.Column("occurrence", sa.String(19), primary_key=True),
    sa.Column("confirmed_seats", sa.Integer, nullable=False),
    sa.Column("waitlisted", sa.Integer, nullable=False),
    sa.Column("maybe", sa.Integer, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
)

# Each event's iCalendar text, rendered when the event changes, from which feeds are assembled.
# `listed` says which community feeds carry it: "public" (anyone's and members'), "members"
# (members' only) or "hidden" (none: a surprise celebration). `public_text` is what anyone may
# read (no video link), for events listed publicly.
calendar_entries = sa.Table(
    "calendar_entries",
    meta,
    sa.Column("event_id", sa.ForeignKey("events.id"), primary_key=True),
    sa.Column("community_id", sa.String(36), nullable=False, index=True),
    sa.Column("listed", sa.String(10), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("public_text", sa.Text),
    sa.Column("zones", sa.String(300), nullable=False),  # the TZIDs it uses, space-separated
    sa.Column("cancelled_at", UTCDateTime),
    sa.Column("rendered_at", UTCDateTime, nullable=False),
)

# Each feed's validators, shared by every server process (which keep the bytes themselves):
# the ETag of its bytes, since when they are so, and `stale` once something in them changed.
feeds = sa.Table(
    "feeds",
    meta,
    sa.Column("scope", sa.String(10), primary_key=True),  # "community" or "member"
    sa.Column("owner_id", sa.String(36), primary_key=True),
    sa.Column("view", sa.String(10), primary_key=True),  # "public", "members" or "personal"
    sa.Column("etag", sa.String(64), nullable=False),
    sa.Column("last_modified", UTCDateTime, nullable=False),
    sa.Column("built_at", UTCDateTime, nullable=False),
    sa.Column("stale", sa.Boolean, nullable=False),
)

# What each person (by email) last answered for each event and occurrence ("" for a one-off),
# learned from the rsvps service: the events of their personal feed.
answers = sa.Table(
    "answers",
    meta,
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Column("event_id", sa.String(36), primary_key=True, index=True),
    sa.Column("occurrence", sa.String(19), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    # Once going, a later "no" or cancellation is shown as cancelled for a while, so calendars
    # drop the entry; an event someone never said yes to never appears.
    sa.Column("ever_confirmed", sa.Boolean, nullable=False),
    sa.Column("changed_at", UTCDateTime, nullable=False),
)

outbox = outbox_table(meta)
inbox = inbox_table(meta)

EVENT_FIELDS = [
    "kind",
    "title",
    "description",
    "starts_at",
    "ends_at",
    "timezone",
    "rrule",
    "location",
    "online_url",
    "capacity",
    "guest_limit",
    "rsvp_deadline",
    "visibility",
    "honoree_email",
    "surprise",
    "ce_hours",
    "presenter",
    "status",
    "sequence",
    "all_day",
]
OVERRIDE_FIELDS = [
    "original_start", "starts_at", "ends_at", "title", "description", "location", "online_url",
    "sequence", "updated_at",
]  # fmt: skip


ATTENDANCE_COUNTS = ("confirmed_seats", "waitlisted", "maybe")


@dataclass(frozen=True)
class Answered:
    """A person's answer for one event or date of a series (`occurrence`: its key, "" for a
    one-off event), with the event, its community and the person's role there (None: none)."""

    event: Event
    community: Community
    role: str | None
    occurrence: str
    status: str


class UnitOfWork(shared.outbox.UnitOfWork):
    """One transaction: the events service's queries and the outbox it writes to."""

    # Communities and members

    def community_by_slug(self, slug: str) -> Community | None:
        row = self.conn.execute(sa.select(communities).where(communities.c.slug == slug)).first()
        return Community(**row._mapping) if row else None

    def community_by_id(self, community_id: str) -> Community | None:
        row = self.conn.execute(
            sa.select(communities).where(communities.c.id == community_id)
        ).first()
        return Community(**row._mapping) if row else None

    def slug_taken(self, slug: str) -> bool:
        return self.community_by_slug(slug) is not None

    def add_community(self, community: Community) -> None:
        self.conn.execute(communities.insert().values(**community.__dict__))

    def communities_of(self, member_id: str) -> list[tuple[Community, str]]:
        rows = self.conn.execute(
            sa.select(communities, memberships.c.role)
            .join(memberships, memberships.c.community_id == communities.c.id)
            .where(memberships.c.member_id == member_id)
            .order_by(communities.c.name)
        ).all()
        return [(Community(**_without(row, "role")), row.role) for row in rows]

    def member_by_email(self, email: str) -> Member | None:
        row = self.conn.execute(
            sa.select(members.c.id, members.c.email, members.c.name, members.c.phone).where(
                members.c.email == email.lower()
            )
        ).first()
        return Member(**row._mapping) if row else None

    def member_by_id(self, member_id: str) -> Member | None:
        row = self.conn.execute(
            sa.select(members.c.id, members.c.email, members.c.name, members.c.phone).where(
                members.c.id == member_id
            )
        ).first()
        return Member(**row._mapping) if row else None

    def add_member(self, member: Member) -> None:
        self.conn.execute(
            members.insert().values(
                **{**member.__dict__, "email": member.email.lower()}, created_at=_now()
            )
        )

    def update_member(self, member: Member) -> None:
        self.conn.execute(
            members.update()
            .where(members.c.id == member.id)
            .values(name=member.name, phone=member.phone)
        )

    def role_of(self, community_id: str, member_id: str | None) -> str | None:
        if member_id is None:
            return None
        return self.conn.execute(
            sa.select(memberships.c.role).where(
                memberships.c.community_id == community_id,
                memberships.c.member_id == member_id,
            )
        ).scalar()

    def set_role(self, community_id: str, member_id: str, role: str) -> None:
        updated = self.conn.execute(
            memberships.update()
            .where(
                memberships.c.community_id == community_id,
                memberships.c.member_id == member_id,
            )
            .values(role=role)
        )
        if updated.rowcount == 0:
            self.conn.execute(
                memberships.insert().values(
                    community_id=community_id, member_id=member_id, role=role, created_at=_now()
                )
            )

    def members_of(self, community_id: str) -> list[tuple[Member, str]]:
        rows = self.conn.execute(
            sa.select(
                members.c.id, members.c.email, members.c.name, members.c.phone, memberships.c.role
            )
            .join(memberships, memberships.c.member_id == members.c.id)
            .where(memberships.c.community_id == community_id)
            .order_by(members.c.name)
        ).all()
        return [(Member(**_without(row, "role")), row.role) for row in rows]

    # Tokens and sign-in links

    def add_api_token(self, member_id: str, token: str) -> None:
        self.conn.execute(
            api_tokens.insert().values(
                token_hash=digest(token), member_id=member_id, created_at=_now()
            )
        )

    def member_for_api_token(self, token: str) -> str | None:
        return self.conn.execute(
            sa.select(api_tokens.c.member_id).where(api_tokens.c.token_hash == digest(token))
        ).scalar()

    def add_sign_in_link(
        self, link_id: str, member_id: str, expires_at: datetime, next_url: str | None
    ) -> None:
        self.conn.execute(
            sign_in_links.insert().values(
                id=link_id, member_id=member_id, expires_at=expires_at, next_url=next_url
            )
        )

    def sign_in_link(self, link_id: str) -> Any:
        return self.conn.execute(
            sa.select(sign_in_links).where(sign_in_links.c.id == link_id)
        ).first()

    def recent_sign_in_links(self, member_id: str, now: datetime) -> int:
        """How many unused, unexpired links the member has."""
        return self.conn.execute(
            sa.select(sa.func.count()).where(
                sign_in_links.c.member_id == member_id,
                sign_in_links.c.used_at.is_(None),
                sign_in_links.c.expires_at > now,
            )
        ).scalar_one()

    def use_sign_in_link(self, link_id: str, now: datetime) -> Any:
        """Mark a valid link used and return it; None if unknown, used or expired.

        The conditional UPDATE makes single use hold even when the link is opened twice at once.
        """
        used = self.conn.execute(
            sign_in_links.update()
            .where(
                sign_in_links.c.id == link_id,
                sign_in_links.c.used_at.is_(None),
                sign_in_links.c.expires_at > now,
            )
            .values(used_at=now)
        )
        return self.sign_in_link(link_id) if used.rowcount == 1 else None

    # Events

    def event(self, event_id: str, *, for_update: bool = False) -> Event | None:
        query = sa.select(events).where(events.c.id == event_id)
        if for_update:
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        if row is None:
            return None
        return self._events_from_rows([row])[0]

    def events_between(self, community_id: str, start: datetime, end: datetime) -> list[Event]:
        rows = self.conn.execute(
            sa.select(events)
            .where(
                events.c.community_id == community_id,
                events.c.first_start_utc < end,
                sa.or_(events.c.last_end_utc.is_(None), events.c.last_end_utc > start),
            )
            .order_by(events.c.first_start_utc)
        ).all()
        return self._events_from_rows(rows)

    def add_event(self, event: Event, created_by: str | None) -> None:
        now = _now()
        self.conn.execute(
            events.insert().values(
                id=event.id,
                community_id=event.community_id,
                created_by=created_by,
                created_at=now,
                updated_at=now,
                **_event_columns(event),
            )
        )
        event.created_at = event.updated_at = now

    def save_event(self, event: Event) -> None:
        event.updated_at = _now()
        self.conn.execute(
            events.update()
            .where(events.c.id == event.id)
            .values(updated_at=event.updated_at, **_event_columns(event))
        )

    def cancel_occurrence(self, event_id: str, original_start: datetime) -> None:
        self.conn.execute(
            cancelled_occurrences.insert().values(
                event_id=event_id, original_start=original_start, cancelled_at=_now()
            )
        )

    def set_cancelled_occurrences(self, event_id: str, starts: set[datetime]) -> None:
        self.conn.execute(
            cancelled_occurrences.delete().where(cancelled_occurrences.c.event_id == event_id)
        )
        if starts:
            now = _now()
            self.conn.execute(
                cancelled_occurrences.insert(),
                [
                    {"event_id": event_id, "original_start": start, "cancelled_at": now}
                    for start in sorted(starts)
                ],
            )

    def set_overrides(self, event_id: str, overrides: dict[datetime, Override]) -> None:
        """Keep exactly `overrides` as the event's changed occurrences."""
        self.conn.execute(
            occurrence_overrides.delete().where(occurrence_overrides.c.event_id == event_id)
        )
        if overrides:
            self.conn.execute(
                occurrence_overrides.insert(),
                [
                    {
                        "event_id": event_id,
                        **{name: getattr(override, name) for name in OVERRIDE_FIELDS},
                        "updated_at": override.updated_at or _now(),
                    }
                    for _, override in sorted(overrides.items())
                ],
            )

    # Seat counts, learned from the rsvps service

    def record_attendance(self, event_id: str, occurrence: str, counts: dict[str, int]) -> bool:
        """Keep `counts` unless newer ones (a higher revision) are already kept; True if kept."""
        values = {name: counts[name] for name in ATTENDANCE_COUNTS}
        row = insert(self.conn, attendance).values(
            event_id=event_id, occurrence=occurrence, revision=counts["revision"], **values
        )
        upsert = row.on_conflict_do_update(
            index_elements=[attendance.c.event_id, attendance.c.occurrence],
            set_={name: row.excluded[name] for name in [*ATTENDANCE_COUNTS, "revision"]},
            where=attendance.c.revision < row.excluded.revision,
        )
        return self.conn.execute(upsert.returning(attendance.c.event_id)).first() is not None

    def attendance_of(self, event_ids: list[str]) -> dict[tuple[str, str], dict[str, int]]:
        """Counts by (event id, occurrence key); an occurrence nobody answered is absent."""
        if not event_ids:
            return {}
        rows = self.conn.execute(
            sa.select(attendance).where(attendance.c.event_id.in_(event_ids))
        ).all()
        return {
            (row.event_id, row.occurrence): {name: getattr(row, name) for name in ATTENDANCE_COUNTS}
            for row in rows
        }

    def _events_from_rows(self, rows: Sequence[Any]) -> list[Event]:
        ids = [row.id for row in rows]
        cancelled: dict[str, set[datetime]] = {event_id: set() for event_id in ids}
        if ids:
            for event_id, start in self.conn.execute(
                sa.select(
                    cancelled_occurrences.c.event_id, cancelled_occurrences.c.original_start
                ).where(cancelled_occurrences.c.event_id.in_(ids))
            ):
                cancelled[event_id].add(start)
        overrides: dict[str, dict[datetime, Override]] = {event_id: {} for event_id in ids}
        if ids:
            for row in self.conn.execute(
                sa.select(occurrence_overrides).where(occurrence_overrides.c.event_id.in_(ids))
            ):
                override = Override(**{name: getattr(row, name) for name in OVERRIDE_FIELDS})
                overrides[row.event_id][override.original_start] = override
        return [
            Event(
                id=row.id,
                community_id=row.community_id,
                created_at=row.created_at,
                updated_at=row.updated_at,
                cancelled_occurrences=cancelled[row.id],
                overrides=overrides[row.id],
                shift=timedelta(seconds=row.shift_seconds),
                **{name: getattr(row, name) for name in EVENT_FIELDS},
            )
            for row in rows
        ]

    # Calendar feeds

    def save_calendar_entry(self, values: dict[str, Any]) -> None:
        """Keep an event's freshly rendered calendar text, and mark every feed it is in stale."""
        row = insert(self.conn, calendar_entries).values(values)
        columns = [name for name in values if name != "event_id"]
        self.conn.execute(
            row.on_conflict_do_update(
                index_elements=[calendar_entries.c.event_id],
                set_={name: row.excluded[name] for name in columns},
            )
        )
        self.mark_feeds_stale(values["community_id"], values["event_id"])

    def mark_feeds_stale(self, community_id: str, event_id: str) -> None:
        """The community's feeds, and the personal feeds of everyone who answered the event."""
        answered = (
            sa.select(members.c.id)
            .join(answers, answers.c.email == members.c.email)
            .where(answers.c.event_id == event_id)
        )
        self.conn.execute(
            feeds.update()
            .where(
                sa.or_(
                    sa.and_(feeds.c.scope == "community", feeds.c.owner_id == community_id),
                    sa.and_(feeds.c.scope == "member", feeds.c.owner_id.in_(answered)),
                )
            )
            .values(stale=True)
        )

    def calendar_versions(self, community_id: str, rendered_after: datetime | None = None) -> Any:
        """The community's calendar entries (all, or those rendered after `rendered_after`)
        without their texts: when each was rendered, and what decides which feeds list it."""
        query = sa.select(
            calendar_entries.c.event_id,
            calendar_entries.c.rendered_at,
            calendar_entries.c.listed,
            calendar_entries.c.cancelled_at,
            calendar_entries.c.zones,
        ).where(calendar_entries.c.community_id == community_id)
        if rendered_after is not None:
            query = query.where(calendar_entries.c.rendered_at > rendered_after)
        return self.conn.execute(query).all()

    def calendar_texts(self, event_ids: list[str], view: str) -> Any:
        """These events' texts for `view`, with when each was rendered."""
        text = calendar_entries.c.public_text if view == "public" else calendar_entries.c.text
        rows: list[Any] = []
        for chunk in range(0, len(event_ids), 1000):
            rows += self.conn.execute(
                sa.select(
                    calendar_entries.c.event_id,
                    calendar_entries.c.rendered_at,
                    text.label("text"),
                ).where(calendar_entries.c.event_id.in_(event_ids[chunk : chunk + 1000]))
            ).all()
        return rows

    def feed_state(self, scope: str, owner_id: str, view: str) -> Any:
        """A feed's validators and freshness (its bytes are kept by each server process)."""
        return self.conn.execute(
            sa.select(feeds).where(
                feeds.c.scope == scope, feeds.c.owner_id == owner_id, feeds.c.view == view
            )
        ).first()

    def save_feed(self, values: dict[str, Any]) -> None:
        row = insert(self.conn, feeds).values(values)
        key = ("scope", "owner_id", "view")
        self.conn.execute(
            row.on_conflict_do_update(
                index_elements=[feeds.c[name] for name in key],
                set_={name: row.excluded[name] for name in values if name not in key},
            )
        )

    def record_answer(
        self, email: str, event_id: str, occurrence: str, status: str, changed_at: datetime
    ) -> bool:
        """Keep a person's answer unless a later one is kept already, and mark their personal
        feed stale; True if kept."""
        values = {"status": status, "changed_at": changed_at}
        row = insert(self.conn, answers).values(
            email=email,
            event_id=event_id,
            occurrence=occurrence,
            ever_confirmed=status == "confirmed",
            **values,
        )
        upsert = row.on_conflict_do_update(
            index_elements=[answers.c.email, answers.c.event_id, answers.c.occurrence],
            set_={
                **{name: row.excluded[name] for name in values},
                "ever_confirmed": answers.c.ever_confirmed | row.excluded.ever_confirmed,
            },
            where=answers.c.changed_at < row.excluded.changed_at,
        )
        if self.conn.execute(upsert.returning(answers.c.email)).first() is None:
            return False
        self.conn.execute(
            feeds.update()
            .where(
                feeds.c.scope == "member",
                feeds.c.owner_id.in_(sa.select(members.c.id).where(members.c.email == email)),
            )
            .values(stale=True)
        )
        return True

    def answers_of(self, email: str, since: datetime) -> Any:
        """A person's answers that feeds show: those "confirmed", and those once confirmed and
        changed since `since`."""
        return self.conn.execute(
            sa.select(answers)
            .where(
                answers.c.email == email,
                sa.or_(
                    answers.c.status == "confirmed",
                    sa.and_(answers.c.ever_confirmed, answers.c.changed_at >= since),
                ),
            )
            .order_by(answers.c.event_id, answers.c.occurrence)
        ).all()

    def answers_to(self, email: str, event_id: str) -> dict[str, str]:
        """A person's last answer to each date of an event they answered, by occurrence key
        ("" for a one-off event)."""
        rows = self.conn.execute(
            sa.select(answers.c.occurrence, answers.c.status).where(
                answers.c.email == email.lower(), answers.c.event_id == event_id
            )
        ).all()
        return {row.occurrence: row.status for row in rows}

    def answered_ahead(
        self, member: Member, statuses: Sequence[str], now: datetime
    ) -> list[Answered]:
        """The member's answers with one of `statuses` to events not over by `now` (a series
        without end never is), each with its event, community and the member's role there:
        one query, and the two every read of events makes (cancelled and changed dates)."""
        community_names = ("slug", "name", "timezone", "visibility")
        rows = self.conn.execute(
            sa.select(
                events,
                answers.c.occurrence.label("answer_occurrence"),
                answers.c.status.label("answer_status"),
                *(communities.c[name].label(f"community_{name}") for name in community_names),
                memberships.c.role.label("member_role"),
            )
            .join(answers, answers.c.event_id == events.c.id)
            .join(communities, communities.c.id == events.c.community_id)
            .outerjoin(
                memberships,
                sa.and_(
                    memberships.c.community_id == events.c.community_id,
                    memberships.c.member_id == member.id,
                ),
            )
            .where(
                answers.c.email == member.email.lower(),
                answers.c.status.in_(statuses),
                sa.or_(events.c.last_end_utc.is_(None), events.c.last_end_utc > now),
            )
            .order_by(events.c.id, answers.c.occurrence)
        ).all()
        firsts: dict[str, Any] = {}
        for row in rows:  # a row per answer: an event answered for several dates is read once
            firsts.setdefault(row.id, row)
        found = {event.id: event for event in self._events_from_rows(list(firsts.values()))}
        return [
            Answered(
                event=found[row.id],
                community=Community(
                    id=row.community_id,
                    **{name: row._mapping[f"community_{name}"] for name in community_names},
                ),
                role=row.member_role,
                occurrence=row.answer_occurrence,
                status=row.answer_status,
            )
            for row in rows
        ]

    def feed_generation(self, member_id: str) -> int | None:
        return self.conn.execute(
            sa.select(members.c.feed_generation).where(members.c.id == member_id)
        ).scalar()

    def next_feed_generation(self, member_id: str) -> int:
        return int(
            self.conn.execute(
                members.update()
                .where(members.c.id == member_id)
                .values(feed_generation=members.c.feed_generation + 1)
                .returning(members.c.feed_generation)
            ).scalar_one()
        )

    def events_by_ids(self, event_ids: list[str]) -> list[Event]:
        if not event_ids:
            return []
        rows = self.conn.execute(sa.select(events).where(events.c.id.in_(event_ids))).all()
        return self._events_from_rows(rows)


def _event_columns(event: Event) -> dict[str, Any]:
    return {
        **{name: getattr(event, name) for name in EVENT_FIELDS},
        "first_start_utc": event.first_start,
        "last_end_utc": event.last_end,
        "shift_seconds": int(event.shift.total_seconds()),
    }


def _without(row: Any, *names: str) -> dict[str, Any]:
    return {key: value for key, value in row._mapping.items() if key not in names}


def _now() -> datetime:
    return datetime.now(UTC)


class Store(shared.outbox.Store[UnitOfWork]):
    """Opens units of work on the events database."""

    unit_of_work = UnitOfWork
