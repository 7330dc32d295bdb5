"""Persistence of the rsvps service: its tables, queries and the unit of work with the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

import shared.outbox
from services.rsvps.model import Community, Event
from services.rsvps.seats import CANCELLED, CONFIRMED, MAYBE, WAITLISTED, Rsvp, Tally
from shared.db import UTCDateTime, insert, metadata, record_if_newer
from shared.outbox import inbox_table, outbox_table

meta = metadata()

# The read model of events, fed only by the events service's messages.
events = sa.Table(
    "events",
    meta,
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("community_id", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("capacity", sa.Integer),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("visibility", sa.String(20), nullable=False),
    # What the organizer chose (wall-clock times in an IANA zone) and the instants they mean.
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("local_start", sa.DateTime, nullable=False),
    sa.Column("local_end", sa.DateTime, nullable=False),
    sa.Column("starts_at", UTCDateTime, nullable=False),
    sa.Column("ends_at", UTCDateTime, nullable=False),
    sa.Column("rrule", sa.String(500)),
    sa.Column("rsvp_deadline", UTCDateTime),
    sa.Column("guest_limit", sa.Integer),
    sa.Column("all_day", sa.Boolean, nullable=False, server_default=sa.false()),
    # Dates moved one by one: {key: [new local start, new local end]} (ISO wall times), kept in
    # the row so reading an event stays one query.
    sa.Column("moved_occurrences", sa.JSON),
    # How far the whole series has moved since first scheduled (model.Event.shift), in seconds.
    sa.Column("shift_seconds", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sequence", sa.Integer, nullable=False),
    # This service's own counter, raised under the row lock by every seat decision, so the
    # counts it announces can be ordered by their readers (never set from a message).
    sa.Column("seat_revision", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

cancelled_occurrences = sa.Table(
    "cancelled_occurrences",
    meta,
    sa.Column("event_id", sa.ForeignKey("events.event_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("original_start", sa.DateTime, primary_key=True),  # the date's key
)

# One row per person (email) and occurrence: their answer, party size and place.
rsvps = sa.Table(
    "rsvps",
    meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("event_id", sa.ForeignKey("events.event_id"), nullable=False),
    # The occurrence's original local start (ISO), or "" for a one-off event: never NULL, so
    # "one answer per email and occurrence" is a plain unique constraint on both databases.
    sa.Column("occurrence", sa.String(19), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("phone", sa.String(20)),
    sa.Column("response", sa.String(10), nullable=False),
    sa.Column("guests", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("queue_number", sa.Integer),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("event_id", "occurrence", "email"),
    sa.Index("ix_rsvps_event_id_occurrence_status", "event_id", "occurrence", "status"),
)

# Who organizes which community, and whose API tokens these are: learned from the events
# service's messages, so this service tells an organizer from anyone else without asking it. It
# keeps no member's contact details (it needs none). Rows carry when the events service announced
# them (`updated_at`, the message's `occurred_at`), so a late, older message changes nothing.
communities = sa.Table(
    "communities",
    meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("slug", sa.String(60), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

memberships = sa.Table(
    "memberships",
    meta,
    sa.Column("community_id", sa.String(36), primary_key=True),
    sa.Column("member_id", sa.String(36), primary_key=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Only the token's digest (shared.tokens), as the events service announced it.
api_tokens = sa.Table(
    "api_tokens",
    meta,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("member_id", sa.String(36), nullable=False, index=True),
    sa.Column("issued_at", UTCDateTime, nullable=False),
)

outbox = outbox_table(meta)
inbox = inbox_table(meta)

EVENT_COLUMNS = [
    "community_id",
    "kind",
    "title",
    "capacity",
    "status",
    "visibility",
    "timezone",
    "local_start",
    "local_end",
    "starts_at",
    "ends_at",
    "rrule",
    "rsvp_deadline",
    "guest_limit",
    "all_day",
    "sequence",
    "updated_at",
]


class UnitOfWork(shared.outbox.UnitOfWork):
    """One transaction: the rsvps service's queries and the outbox it writes to."""

    # The read model of events

    def event(self, event_id: str, *, for_update: bool = False) -> Event | None:
        """The event as last announced; `for_update` locks its row, which serializes every
        seat decision for the event across processes (PostgreSQL; SQLite has one writer)."""
        # One query: the event's row once per cancelled occurrence (or once with none).
        query = EVENT_LOCKED_WITH_CANCELLED if for_update else EVENT_WITH_CANCELLED
        rows = self.conn.execute(query, {"event_id": event_id}).all()
        if not rows:
            return None
        row = rows[0]
        return Event(
            id=row.event_id,
            cancelled_occurrences=frozenset(
                row.original_start for row in rows if row.original_start is not None
            ),
            moved_occurrences={
                datetime.fromisoformat(original): (
                    datetime.fromisoformat(starts),
                    datetime.fromisoformat(ends),
                )
                for original, (starts, ends) in (row.moved_occurrences or {}).items()
            },
            shift=timedelta(seconds=row.shift_seconds),
            **{name: getattr(row, name) for name in EVENT_COLUMNS},
        )

    def record_event(self, event: Event) -> bool:
        """Store `event` unless we already hold the same or a later sequence of it; True if stored.

        The sequence check is part of the upsert itself, so two consumers handling two states of
        one event at once cannot interleave and leave the older one in place; on PostgreSQL the
        upsert also locks the row, which keeps the cancelled occurrences in step with it.
        """
        values = {name: getattr(event, name) for name in EVENT_COLUMNS}
        values["moved_occurrences"] = {
            original.isoformat(): [starts.isoformat(), ends.isoformat()]
            for original, (starts, ends) in sorted(event.moved_occurrences.items())
        } or None
        values["shift_seconds"] = int(event.shift.total_seconds())
        row = insert(self.conn, events).values(event_id=event.id, **values)
        upsert = row.on_conflict_do_update(
            index_elements=[events.c.event_id],
            set_={name: row.excluded[name] for name in values},
            where=events.c.sequence < row.excluded.sequence,
        )
        # RETURNING tells whether it was stored (see shared.db.insert).
        if self.conn.execute(upsert.returning(events.c.event_id)).first() is None:
            return False
        self.conn.execute(
            cancelled_occurrences.delete().where(cancelled_occurrences.c.event_id == event.id)
        )
        if event.cancelled_occurrences:
            self.conn.execute(
                cancelled_occurrences.insert(),
                [
                    {"event_id": event.id, "original_start": start}
                    for start in sorted(event.cancelled_occurrences)
                ],
            )
        return True

    # RSVPs

    def attendance(self, event_id: str, occurrence: datetime | None) -> list[Rsvp]:
        """Every RSVP of one occurrence (of a one-off event when `occurrence` is None)."""
        rows = self.conn.execute(
            sa.select(rsvps)
            .where(rsvps.c.event_id == event_id, rsvps.c.occurrence == _key(occurrence))
            .order_by(rsvps.c.created_at, rsvps.c.id)
        ).all()
        return [_rsvp(row) for row in rows]

    def tally(
        self, event_id: str, occurrence: datetime | None, capacity: int | None, email: str
    ) -> tuple[Tally, str | None]:
        """One occurrence in numbers, counted by the database, and the id of the RSVP `email`
        already has in it (if any), in one query."""
        params = {"event_id": event_id, "occurrence": _key(occurrence), "email": email}
        row = self.conn.execute(TALLY_WITH_OWN, params).one()
        tally = Tally(
            capacity=capacity,
            confirmed_seats=row.t_confirmed_seats,
            waitlisted=row.t_waitlisted,
            maybe=row.t_maybe,
            last_queue_number=row.t_last_queue_number,
            smallest_waiting_party=row.t_smallest_waiting_party,
        )
        return tally, row.id

    def next_seat_revision(self, event_id: str) -> int:
        """Raise and return the event's seat revision; call with the event's row locked."""
        return int(
            self.conn.execute(NEXT_SEAT_REVISION, {"locked_event_id": event_id}).scalar_one()
        )

    def occurrences_waiting(self, event_id: str) -> list[datetime | None]:
        """The occurrences of the event that have a waitlist."""
        keys = self.conn.execute(
            sa.select(rsvps.c.occurrence)
            .where(rsvps.c.event_id == event_id, rsvps.c.status == WAITLISTED)
            .distinct()
            .order_by(rsvps.c.occurrence)
        ).scalars()
        return [datetime.fromisoformat(key) if key else None for key in keys]

    def rsvp(self, rsvp_id: str) -> Rsvp | None:
        row = self.conn.execute(sa.select(rsvps).where(rsvps.c.id == rsvp_id)).first()
        return _rsvp(row) if row else None

    def rsvps_of(self, event_id: str, email: str) -> list[Rsvp]:
        """One person's RSVPs to an event (one per date of a series), cancelled ones too."""
        rows = self.conn.execute(
            sa.select(rsvps)
            .where(rsvps.c.event_id == event_id, rsvps.c.email == email.lower())
            .order_by(rsvps.c.occurrence)
        ).all()
        return [_rsvp(row) for row in rows]

    def save_rsvps(self, changed: list[Rsvp]) -> None:
        """Insert new RSVPs and update changed ones, stamping `updated_at`."""
        now = datetime.now(UTC)
        for rsvp in changed:
            rsvp.updated_at = now
            values = {name: getattr(rsvp, name) for name in RSVP_COLUMNS}
            values["occurrence"] = _key(rsvp.occurrence)
            if rsvp.created_at is None:
                rsvp.created_at = now
                self.conn.execute(INSERT_RSVP, {"id": rsvp.id, "created_at": now, **values})
            else:
                self.conn.execute(UPDATE_RSVP, {"rsvp_id": rsvp.id, **values})

    # Organizers: memberships and API tokens, learned from the events service

    def record_community(self, community: Community, as_of: datetime) -> bool:
        """Store the community's name announced at `as_of`, unless a newer one is stored."""
        values = {"slug": community.slug, "name": community.name}
        return record_if_newer(self.conn, communities, {"id": community.id}, values, as_of)

    def record_membership(
        self, community_id: str, member_id: str, role: str, as_of: datetime
    ) -> bool:
        """Store the member's role announced at `as_of`, unless a newer one is stored."""
        key = {"community_id": community_id, "member_id": member_id}
        return record_if_newer(self.conn, memberships, key, {"role": role}, as_of)

    def record_api_token(self, token_hash: str, member_id: str, issued_at: datetime) -> bool:
        """Keep a token's digest; False if it was known (a token is announced again whenever
        it is granted again, and always for the same member)."""
        values = {"token_hash": token_hash, "member_id": member_id, "issued_at": issued_at}
        statement = insert(self.conn, api_tokens).values(values).on_conflict_do_nothing()
        return self.conn.execute(statement.returning(api_tokens.c.token_hash)).first() is not None

    def member_for_token_hash(self, token_hash: str) -> str | None:
        return self.conn.execute(
            sa.select(api_tokens.c.member_id).where(api_tokens.c.token_hash == token_hash)
        ).scalar()

    def role_of(self, community_id: str, member_id: str) -> str | None:
        return self.conn.execute(
            sa.select(memberships.c.role).where(
                memberships.c.community_id == community_id, memberships.c.member_id == member_id
            )
        ).scalar()

    def community(self, community_id: str) -> Community | None:
        row = self.conn.execute(
            sa.select(communities.c.id, communities.c.slug, communities.c.name).where(
                communities.c.id == community_id
            )
        ).first()
        return Community(**row._mapping) if row else None

    # What organizers see

    def answers_of(self, event_id: str, occurrence: datetime | None = None) -> list[Rsvp]:
        """The event's RSVPs that still stand (not cancelled), oldest first: of one occurrence
        of a series if `occurrence` is given, else of all of them (a one-off event has one)."""
        query = sa.select(rsvps).where(rsvps.c.event_id == event_id, rsvps.c.status != CANCELLED)
        if occurrence is not None:
            query = query.where(rsvps.c.occurrence == _key(occurrence))
        rows = self.conn.execute(
            query.order_by(rsvps.c.occurrence, rsvps.c.created_at, rsvps.c.id)
        ).all()
        return [_rsvp(row) for row in rows]


RSVP_COLUMNS = [
    "event_id", "email", "name", "phone", "response", "guests", "status", "queue_number",
    "updated_at",
]  # fmt: skip

# The hot path's statements, built once: SQLAlchemy then finds them compiled in its cache at
# once instead of first building and keying a new statement for every answer.
EVENT_WITH_CANCELLED = (
    sa.select(events, cancelled_occurrences.c.original_start)
    .select_from(
        events.outerjoin(
            cancelled_occurrences, cancelled_occurrences.c.event_id == events.c.event_id
        )
    )
    .where(events.c.event_id == sa.bindparam("event_id"))
)
EVENT_LOCKED_WITH_CANCELLED = EVENT_WITH_CANCELLED.with_for_update(of=events)
NEXT_SEAT_REVISION = (
    events.update()
    .where(events.c.event_id == sa.bindparam("locked_event_id"))
    .values(seat_revision=events.c.seat_revision + 1)
    .returning(events.c.seat_revision)
)
_waiting = rsvps.c.status == WAITLISTED
_counts = (
    sa.select(
        sa.func.coalesce(
            sa.func.sum(sa.case((rsvps.c.status == CONFIRMED, 1 + rsvps.c.guests), else_=0)), 0
        ).label("t_confirmed_seats"),
        sa.func.count(sa.case((_waiting, 1))).label("t_waitlisted"),
        sa.func.count(sa.case((rsvps.c.status == MAYBE, 1))).label("t_maybe"),
        sa.func.coalesce(sa.func.max(rsvps.c.queue_number), 0).label("t_last_queue_number"),
        sa.func.min(sa.case((_waiting, 1 + rsvps.c.guests))).label("t_smallest_waiting_party"),
    )
    .where(
        rsvps.c.event_id == sa.bindparam("event_id"),
        rsvps.c.occurrence == sa.bindparam("occurrence"),
    )
    .subquery("counts")
)
# The counts (always one row) beside the id of the email's RSVP, if it has one.
TALLY_WITH_OWN = sa.select(_counts, rsvps.c.id).select_from(
    _counts.outerjoin(
        rsvps,
        sa.and_(
            rsvps.c.event_id == sa.bindparam("event_id"),
            rsvps.c.occurrence == sa.bindparam("occurrence"),
            rsvps.c.email == sa.bindparam("email"),
        ),
    )
)
INSERT_RSVP = rsvps.insert()
UPDATE_RSVP = rsvps.update().where(rsvps.c.id == sa.bindparam("rsvp_id"))


def _key(occurrence: datetime | None) -> str:
    return occurrence.isoformat(timespec="seconds") if occurrence else ""


def _rsvp(row: Any) -> Rsvp:
    return Rsvp(
        id=row.id,
        occurrence=datetime.fromisoformat(row.occurrence) if row.occurrence else None,
        created_at=row.created_at,
        **{name: getattr(row, name) for name in RSVP_COLUMNS},
    )


class Store(shared.outbox.Store[UnitOfWork]):
    """Opens units of work on the rsvps database."""

    unit_of_work = UnitOfWork
