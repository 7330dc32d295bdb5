"""Persistence of the notifications service: its read model, the deliveries ledger, the dev
mailbox, and the unit of work with the outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import shared.outbox
from services.notifications.model import (
    CONFIRMED,
    QUEUED,
    RETRYING,
    SENT,
    TEXT_OPT_IN,
    Attendee,
    Choices,
    Community,
    Delivery,
    Event,
    Member,
    NewDelivery,
    Outcome,
    Override,
    SeriesDate,
)
from shared.db import UTCDateTime, insert, metadata, record_if_newer
from shared.outbox import BigId, Outbox, inbox_table, outbox_table

meta = metadata()

# The read model of communities and members, fed only by the events service's messages. Each
# row's `updated_at` is when the events service announced the state it holds (the message's
# `occurred_at`), so a late, older message cannot overwrite a newer one.
communities = sa.Table(
    "communities",
    meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("slug", sa.String(60), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

members = sa.Table(
    "members",
    meta,
    sa.Column("id", sa.String(36), primary_key=True),
    # Not unique here: the events service owns that rule, and a read model must not refuse a fact.
    sa.Column("email", sa.String(320), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("phone", sa.String(20)),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

memberships = sa.Table(
    "memberships",
    meta,
    sa.Column("community_id", sa.ForeignKey("communities.id"), primary_key=True),
    sa.Column("member_id", sa.ForeignKey("members.id"), primary_key=True, index=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# The read model of events: what mail about an event says. A state is kept only if its `sequence`
# is higher than the one stored, so a redelivered or late message never rolls an event back.
# Times are the organizer's local wall times in `timezone`; an override's times likewise.
events = sa.Table(
    "events",
    meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("community_id", sa.String(36), nullable=False, index=True),
    sa.Column("community_name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("visibility", sa.String(20), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("local_start", sa.DateTime, nullable=False),
    sa.Column("local_end", sa.DateTime, nullable=False),
    sa.Column("all_day", sa.Boolean, nullable=False),
    sa.Column("rrule", sa.String(500)),
    sa.Column("location", sa.String(500)),
    sa.Column("online_url", sa.String(2000)),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("surprise_honoree", sa.String(320)),
    # The dates of a series changed one by one, by their keys (model.Event; "original_start"
    # holds the key), with their local times.
    sa.Column("overrides", sa.JSON),
    # The keys of the dates cancelled one by one.
    sa.Column("cancelled_occurrences", sa.JSON),
    # How far the whole series has moved since first scheduled (model.Event.shift), in seconds.
    sa.Column("shift_seconds", sa.Integer, nullable=False, server_default="0"),
)
EVENT_COLUMNS = tuple(
    column.name
    for column in events.columns
    if column.name not in ("overrides", "cancelled_occurrences", "shift_seconds")
)
OVERRIDE_TEXTS = ("title", "description", "location", "online_url")

# The ledger of every message this service sends, one row per (what, which version, who,
# channel): the unique key is what makes a redelivered message or a second replica harmless. A row
# holds enough to compose the message (`kind` and `context`), not the message: a sign-in mail's
# link is a usable secret, and the database must never hold one.
deliveries = sa.Table(
    "deliveries",
    meta,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    sa.Column("channel", sa.String(10), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("context", sa.JSON, nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    # Whose preferences allow it (their email address, also for a text) and which one; a
    # category of NULL is mail that is always sent (sign-in links, direct confirmations).
    sa.Column("address", sa.String(320)),
    sa.Column("category", sa.String(20)),
    # After this (the end of the event it is about) it is dropped rather than sent.
    sa.Column("expires_at", UTCDateTime),
    # The sender about to attempt it has it until then; other senders leave it alone.
    sa.Column("claimed_until", UTCDateTime),
)
# What waits to be tried, in the order senders take it. Partial, so a claim reads the first rows
# of the queue, not every waiting row (nor the sent ones) to sort them. The claim names the
# states as literals (WAITING), so a prepared statement's generic plan can use it too.
WAITING = deliveries.c.state.in_(
    sa.bindparam("waiting", (QUEUED, RETRYING), expanding=True, literal_execute=True)
)
_WAITING_ROWS = sa.text(f"state IN ('{QUEUED}', '{RETRYING}')")
sa.Index(
    "ix_deliveries_waiting",
    deliveries.c.channel,
    deliveries.c.due_at,
    deliveries.c.id,
    postgresql_where=_WAITING_ROWS,
    sqlite_where=_WAITING_ROWS,
)
# A sender's outcome, one per mail: built once, so SQLAlchemy finds it compiled in its cache
# instead of building and keying a new statement for every delivery. A new due time (a retry,
# or a text put back until morning) and the time sent replace what the row has only if given.
RECORD_ATTEMPT = (
    deliveries.update()
    .where(deliveries.c.id == sa.bindparam("delivery_id"))
    .values(
        state=sa.bindparam("new_state"),
        attempts=sa.bindparam("new_attempts"),
        last_error=sa.bindparam("error"),
        updated_at=sa.bindparam("now", type_=UTCDateTime),
        claimed_until=None,
        due_at=sa.func.coalesce(sa.bindparam("retry_at", type_=UTCDateTime), deliveries.c.due_at),
        sent_at=sa.func.coalesce(sa.bindparam("sent", type_=UTCDateTime), deliveries.c.sent_at),
    )
)

# The read model of answers, fed by the rsvps service's messages: whom to tell about a change, and
# whom to remind. One row per RSVP (one date of a series, or a one-off event); `updated_at` is the
# RSVP's own, so a late, older message cannot overwrite a newer answer. `starts_at` is when its
# date begins now (UTC), kept in step with the event; the reminder columns hold the start a
# reminder was queued for, so a moved date gets new reminders and an unmoved one no second.
attendees = sa.Table(
    "attendees",
    meta,
    sa.Column("rsvp_id", sa.String(36), primary_key=True),
    sa.Column("event_id", sa.String(36), nullable=False, index=True),
    sa.Column("occurrence", sa.DateTime),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("phone", sa.String(20)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("manage_url", sa.String(2000), nullable=False),
    sa.Column("confirmed_at", UTCDateTime),
    sa.Column("starts_at", UTCDateTime, index=True),
    sa.Column("day_reminder_for", UTCDateTime),
    sa.Column("text_reminder_for", UTCDateTime),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
ATTENDEE_COLUMNS = tuple(field for field in Attendee.__dataclass_fields__)
DELIVERY_COLUMNS = tuple(field for field in Delivery.__dataclass_fields__)

# What each person wants, by email address (people who answered without an account have
# preferences too): a row only where they chose; no row means wanted_by_default.
preferences = sa.Table(
    "preferences",
    meta,
    sa.Column("address", sa.String(320), primary_key=True),
    sa.Column("channel", sa.String(10), primary_key=True),
    sa.Column("category", sa.String(20), primary_key=True),
    sa.Column("wanted", sa.Boolean, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# The time zone a person's quiet hours are kept in, if they chose one; otherwise the event's.
time_zones = sa.Table(
    "time_zones",
    meta,
    sa.Column("address", sa.String(320), primary_key=True),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# The dates of an "all upcoming" answer (one RSVP a date, each its own message), as each message
# said, until all of them are in: then their person is told about all of them in one mail.
series_answers = sa.Table(
    "series_answers",
    meta,
    sa.Column("answer_id", sa.String(36), primary_key=True),
    sa.Column("rsvp_id", sa.String(36), primary_key=True),
    sa.Column("occurrence", sa.DateTime, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("waitlist_position", sa.Integer),
    sa.Column("manage_url", sa.String(2000), nullable=False),
)

# What would have gone out, when no SMTP server (or SMS API) is configured in `hearth dev`.
dev_mailbox = sa.Table(
    "dev_mailbox",
    meta,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("delivery_key", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(10), nullable=False),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("subject", sa.String(500), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("stored_at", UTCDateTime, nullable=False),
)

outbox = outbox_table(meta)
inbox = inbox_table(meta)


class UnitOfWork(shared.outbox.UnitOfWork):
    """One transaction: the notifications service's queries and the outbox it writes to."""

    queued: int = 0  # deliveries it queued

    # The read model of communities and members

    def community(self, community_id: str) -> Community | None:
        row = self.conn.execute(
            sa.select(
                communities.c.id, communities.c.slug, communities.c.name, communities.c.timezone
            ).where(communities.c.id == community_id)
        ).first()
        return Community(**row._mapping) if row else None

    def member(self, member_id: str) -> Member | None:
        row = self.conn.execute(
            sa.select(members.c.id, members.c.email, members.c.name, members.c.phone).where(
                members.c.id == member_id
            )
        ).first()
        return Member(**row._mapping) if row else None

    def roles_of(self, member_id: str) -> dict[str, str]:
        """The member's role in each community they belong to, by community id."""
        rows = self.conn.execute(
            sa.select(memberships.c.community_id, memberships.c.role).where(
                memberships.c.member_id == member_id
            )
        )
        return {community_id: role for community_id, role in rows}

    def members_of(self, community_id: str) -> list[tuple[Member, str]]:
        rows = self.conn.execute(
            sa.select(
                members.c.id, members.c.email, members.c.name, members.c.phone, memberships.c.role
            )
            .join(memberships, memberships.c.member_id == members.c.id)
            .where(memberships.c.community_id == community_id)
            .order_by(members.c.name, members.c.id)
        ).all()
        return [(Member(row.id, row.email, row.name, row.phone), row.role) for row in rows]

    def record_community(self, community: Community, as_of: datetime) -> bool:
        """Store the community's state announced at `as_of`, unless a newer one is stored."""
        values = {"slug": community.slug, "name": community.name, "timezone": community.timezone}
        return self._record(communities, {"id": community.id}, values, as_of)

    def record_member(self, member: Member, as_of: datetime) -> bool:
        """Store the member's contact details announced at `as_of`, unless newer ones are stored."""
        values = {"email": member.email, "name": member.name, "phone": member.phone}
        return self._record(members, {"id": member.id}, values, as_of)

    def record_membership(
        self, community_id: str, member_id: str, role: str, as_of: datetime
    ) -> bool:
        """Store the member's role announced at `as_of`, unless a newer one is stored."""
        key = {"community_id": community_id, "member_id": member_id}
        return self._record(memberships, key, {"role": role}, as_of)

    def _record(
        self, table: sa.Table, key: dict[str, Any], values: dict[str, Any], as_of: datetime
    ) -> bool:
        return record_if_newer(self.conn, table, key, values, as_of)

    # The read model of events

    def record_event(self, event: Event) -> bool:
        """Store `event` unless the same or a later sequence of it is stored; True if stored.
        The sequence check is part of the upsert, so concurrent consumers cannot interleave."""
        values: dict[str, Any] = {name: getattr(event, name) for name in EVENT_COLUMNS}
        values["overrides"] = [
            {
                "original_start": o.key.isoformat(),
                "local_start": o.local_start.isoformat(),
                "local_end": o.local_end.isoformat(),
                **{name: getattr(o, name) for name in OVERRIDE_TEXTS},
                "sequence": o.sequence,
            }
            for o in event.overrides
        ] or None
        values["cancelled_occurrences"] = [
            moment.isoformat() for moment in event.cancelled_occurrences
        ] or None
        values["shift_seconds"] = int(event.shift.total_seconds())
        row = insert(self.conn, events).values(values)
        upsert = row.on_conflict_do_update(
            index_elements=[events.c.id],
            set_={name: row.excluded[name] for name in values if name != "id"},
            where=events.c.sequence < row.excluded.sequence,
        )
        return self.conn.execute(upsert.returning(events.c.id)).first() is not None

    def event(self, event_id: str) -> Event | None:
        row = self.conn.execute(sa.select(events).where(events.c.id == event_id)).first()
        if row is None:
            return None
        values = {name: getattr(row, name) for name in EVENT_COLUMNS}
        overrides = tuple(
            Override(
                key=datetime.fromisoformat(o["original_start"]),
                local_start=datetime.fromisoformat(o["local_start"]),
                local_end=datetime.fromisoformat(o["local_end"]),
                **{name: o.get(name) for name in OVERRIDE_TEXTS},
                sequence=int(o["sequence"]),
            )
            for o in row.overrides or ()
        )
        cancelled = tuple(
            datetime.fromisoformat(moment) for moment in row.cancelled_occurrences or ()
        )
        return Event(
            **values,
            overrides=overrides,
            cancelled_occurrences=cancelled,
            shift=timedelta(seconds=row.shift_seconds),
        )

    # The read model of answers

    def attendee(self, rsvp_id: str) -> Attendee | None:
        row = self.conn.execute(
            sa.select(*(attendees.c[name] for name in ATTENDEE_COLUMNS)).where(
                attendees.c.rsvp_id == rsvp_id
            )
        ).first()
        return Attendee(**row._mapping) if row else None

    def record_attendee(
        self, attendee: Attendee, starts_at: datetime | None, as_of: datetime
    ) -> bool:
        """Store the answer as of `as_of` (the RSVP's own time), unless a newer one is stored."""
        values = {name: getattr(attendee, name) for name in ATTENDEE_COLUMNS if name != "rsvp_id"}
        return record_if_newer(
            self.conn,
            attendees,
            {"rsvp_id": attendee.rsvp_id},
            {**values, "starts_at": starts_at},
            as_of,
        )

    def attendees_of(
        self, event_id: str, statuses: tuple[str, ...], occurrence: datetime | None = None
    ) -> list[Attendee]:
        """The event's answers in `statuses`, of one date if `occurrence` is given, in the order
        they were made."""
        query = sa.select(*(attendees.c[name] for name in ATTENDEE_COLUMNS)).where(
            attendees.c.event_id == event_id, attendees.c.status.in_(statuses)
        )
        if occurrence is not None:
            query = query.where(attendees.c.occurrence == occurrence)
        rows = self.conn.execute(query.order_by(attendees.c.updated_at, attendees.c.rsvp_id))
        return [Attendee(**row._mapping) for row in rows]

    def move_attendees(self, event: Event) -> None:
        """Keep each answer's `starts_at` in step with the event's (or its date's) new time."""
        dates = self.conn.execute(
            sa.select(attendees.c.occurrence).where(attendees.c.event_id == event.id).distinct()
        ).scalars()
        for occurrence in list(dates):
            self.conn.execute(
                attendees.update()
                .where(
                    attendees.c.event_id == event.id,
                    attendees.c.occurrence.is_(None)
                    if occurrence is None
                    else attendees.c.occurrence == occurrence,
                )
                .values(starts_at=event.bounds(occurrence)[0])
            )

    def to_remind(
        self, column: str, earliest: datetime, latest: datetime, limit: int
    ) -> list[tuple[Attendee, datetime]]:
        """Confirmed answers whose date begins between `earliest` and `latest` and that have no
        reminder (`column`: day_reminder_for or text_reminder_for) queued for that start yet,
        with the start."""
        reminded = attendees.c[column]
        rows = self.conn.execute(
            sa.select(*(attendees.c[name] for name in ATTENDEE_COLUMNS), attendees.c.starts_at)
            .where(
                attendees.c.status == CONFIRMED,
                attendees.c.starts_at > earliest,
                attendees.c.starts_at <= latest,
                sa.or_(reminded.is_(None), reminded != attendees.c.starts_at),
            )
            .order_by(attendees.c.starts_at, attendees.c.rsvp_id)
            .limit(limit)
        ).all()
        return [
            (Attendee(**{name: row._mapping[name] for name in ATTENDEE_COLUMNS}), row.starts_at)
            for row in rows
        ]

    def mark_reminded(self, column: str, rsvp_id: str, starts_at: datetime) -> None:
        self.conn.execute(
            attendees.update().where(attendees.c.rsvp_id == rsvp_id).values({column: starts_at})
        )

    def phone_of(self, address: str) -> str | None:
        """The number a person would be texted at, to show on their preferences page: the one
        last opted in there, else the one they gave their community, else the one given with
        their latest answer."""
        address = address.casefold()
        candidates = (
            sa.select(deliveries.c.recipient)
            .where(deliveries.c.address == address, deliveries.c.kind == TEXT_OPT_IN)
            .order_by(deliveries.c.id.desc()),
            sa.select(members.c.phone)
            .where(sa.func.lower(members.c.email) == address, members.c.phone.is_not(None))
            .order_by(members.c.updated_at.desc()),
            sa.select(attendees.c.phone)
            .where(sa.func.lower(attendees.c.email) == address, attendees.c.phone.is_not(None))
            .order_by(attendees.c.updated_at.desc()),
        )
        for query in candidates:
            phone = self.conn.execute(query.limit(1)).scalar()
            if phone:
                return str(phone)
        return None

    def keep_series_answer(self, answer_id: str, rsvp: Mapping[str, Any]) -> list[SeriesDate]:
        """Keep one date of an "all upcoming" answer (an RSVP state of its message); all its
        dates kept so far, by occurrence. Answers for one event are taken one at a time (its row
        is locked), so of two messages kept at once, the later sees the earlier."""
        self.conn.execute(
            sa.select(events.c.id).where(events.c.id == rsvp["event_id"]).with_for_update()
        )
        self.conn.execute(
            insert(self.conn, series_answers)
            .values(
                answer_id=answer_id,
                rsvp_id=rsvp["id"],
                occurrence=datetime.fromisoformat(rsvp["occurrence"]),
                status=rsvp["status"],
                waitlist_position=rsvp.get("waitlist_position"),
                manage_url=rsvp["manage_url"],
            )
            .on_conflict_do_nothing()
        )
        rows = self.conn.execute(
            sa.select(
                series_answers.c.occurrence,
                series_answers.c.status,
                series_answers.c.waitlist_position,
                series_answers.c.manage_url,
            )
            .where(series_answers.c.answer_id == answer_id)
            .order_by(series_answers.c.occurrence)
        )
        return [SeriesDate(**row._mapping) for row in rows]

    # Preferences

    def wants(self, address: str, channel: str, category: str) -> bool:
        return self.choices_of([address], channel).wants(address, category)

    def choices_of(self, addresses: Iterable[str], channel: str) -> Choices:
        """What these people chose on `channel`, in one query however many they are."""
        folded = {address.casefold() for address in addresses}
        rows = self.conn.execute(
            sa.select(preferences.c.address, preferences.c.category, preferences.c.wanted).where(
                preferences.c.channel == channel, preferences.c.address.in_(folded)
            )
        )
        return Choices(channel, {(a, category): bool(wanted) for a, category, wanted in rows})

    def preferences_of(self, address: str) -> dict[tuple[str, str], bool]:
        """The person's choices, by (channel, category); what is missing is the default."""
        rows = self.conn.execute(
            sa.select(preferences.c.channel, preferences.c.category, preferences.c.wanted).where(
                preferences.c.address == address.casefold()
            )
        )
        return {(channel, category): bool(wanted) for channel, category, wanted in rows}

    def choose(
        self, address: str, channel: str, category: str, wanted: bool, now: datetime
    ) -> None:
        row = insert(self.conn, preferences).values(
            address=address.casefold(),
            channel=channel,
            category=category,
            wanted=wanted,
            updated_at=now,
        )
        self.conn.execute(
            row.on_conflict_do_update(
                index_elements=[
                    preferences.c.address,
                    preferences.c.channel,
                    preferences.c.category,
                ],
                set_={"wanted": row.excluded.wanted, "updated_at": row.excluded.updated_at},
            )
        )

    def time_zone_of(self, address: str) -> str | None:
        return self.conn.execute(  # type: ignore[no-any-return]
            sa.select(time_zones.c.timezone).where(time_zones.c.address == address.casefold())
        ).scalar()

    def set_time_zone(self, address: str, timezone: str, now: datetime) -> None:
        row = insert(self.conn, time_zones).values(
            address=address.casefold(), timezone=timezone, updated_at=now
        )
        self.conn.execute(
            row.on_conflict_do_update(
                index_elements=[time_zones.c.address],
                set_={"timezone": row.excluded.timezone, "updated_at": row.excluded.updated_at},
            )
        )

    # Deliveries

    def queue_delivery(self, delivery: NewDelivery, now: datetime) -> bool:
        """Queue a delivery unless one with its key exists already; True if queued."""
        return bool(self.queue_deliveries([delivery], now))

    def queue_deliveries(self, new: Iterable[NewDelivery], now: datetime) -> list[str]:
        """Queue each delivery unless one with its key exists already; the keys queued. In one
        statement, however many (a change to an event tells everyone going at once)."""
        rows = [
            {
                "key": delivery.key,
                "channel": delivery.channel,
                "kind": delivery.kind,
                "recipient": delivery.recipient,
                "context": dict(delivery.context),
                "state": QUEUED,
                "attempts": 0,
                "due_at": delivery.due_at or now,
                "created_at": now,
                "updated_at": now,
                "address": delivery.address.casefold() if delivery.address else None,
                "category": delivery.category,
                "expires_at": delivery.expires_at,
            }
            for delivery in new
        ]
        if not rows:
            return []
        statement = insert(self.conn, deliveries).on_conflict_do_nothing()
        keys = list(self.conn.execute(statement.returning(deliveries.c.key), rows).scalars())
        self.queued += len(keys)
        return keys

    def claim_due(self, channel: str, now: datetime, limit: int, until: datetime) -> list[Delivery]:
        """Deliveries on `channel` waiting to be tried, oldest due first, claimed until `until`
        by the sender about to try them: other senders (replicas) leave them alone until then,
        or until the claimant records or releases them. Rows another sender is claiming at this
        moment are skipped (SKIP LOCKED on PostgreSQL)."""
        rows = self.conn.execute(
            sa.select(*(deliveries.c[name] for name in DELIVERY_COLUMNS))
            .where(
                deliveries.c.channel == channel,
                WAITING,
                deliveries.c.due_at <= now,
                sa.or_(deliveries.c.claimed_until.is_(None), deliveries.c.claimed_until <= now),
            )
            .order_by(deliveries.c.due_at, deliveries.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        due = [Delivery(**row._mapping) for row in rows]
        if due:
            self.conn.execute(
                deliveries.update()
                .where(deliveries.c.id.in_([delivery.id for delivery in due]))
                .values(claimed_until=until)
            )
        return due

    def release(self, claimed: Iterable[Delivery]) -> None:
        """Give back claimed deliveries that were not attempted, for any sender to take."""
        self.conn.execute(
            deliveries.update()
            .where(deliveries.c.id.in_([delivery.id for delivery in claimed]))
            .values(claimed_until=None)
        )

    def record_attempt(self, delivery: Delivery, result: Outcome, now: datetime) -> None:
        self.conn.execute(
            RECORD_ATTEMPT,
            {
                "delivery_id": delivery.id,
                "new_state": result.state,
                # A delivery put back in the queue (quiet hours) was not attempted.
                "new_attempts": delivery.attempts + (result.state != QUEUED),
                "error": result.error,
                "now": now,
                "retry_at": result.due_at,
                "sent": now if result.state == SENT else None,
            },
        )

    def deliveries(
        self, channel: str | None = None, state: str | None = "all", limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Deliveries with their state, newest first (for operators and tests): of one channel
        if given; of one `state`, every state ("all"), or every state but sent (None)."""
        query = sa.select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
        if channel is not None:
            query = query.where(deliveries.c.channel == channel)
        if state is None:
            query = query.where(deliveries.c.state != SENT)
        elif state != "all":
            query = query.where(deliveries.c.state == state)
        return [dict(row._mapping) for row in self.conn.execute(query)]

    # The dev mailbox

    def store_in_mailbox(
        self, delivery: Delivery, subject: str, content: str, now: datetime
    ) -> None:
        self.conn.execute(
            dev_mailbox.insert().values(
                delivery_key=delivery.key,
                channel=delivery.channel,
                recipient=delivery.recipient,
                subject=subject[:500],
                content=content,
                stored_at=now,
            )
        )

    def mailbox(self, limit: int = 200) -> list[dict[str, Any]]:
        """The newest messages in the dev mailbox, without their content."""
        rows = self.conn.execute(
            sa.select(
                dev_mailbox.c.id,
                dev_mailbox.c.channel,
                dev_mailbox.c.recipient,
                dev_mailbox.c.subject,
                dev_mailbox.c.stored_at,
            )
            .order_by(dev_mailbox.c.id.desc())
            .limit(limit)
        )
        return [dict(row._mapping) for row in rows]

    def mailbox_message(self, message_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(
            sa.select(dev_mailbox).where(dev_mailbox.c.id == message_id)
        ).first()
        return dict(row._mapping) if row else None


class Store(shared.outbox.Store[UnitOfWork]):
    """Opens units of work on the notifications database. `on_queued` is called after each
    commit that queued deliveries, so that the senders of this process send them at once (and
    not after every message handled, most of which queue nothing)."""

    unit_of_work = UnitOfWork

    def __init__(
        self, engine: Engine, outbox: Outbox, on_queued: Callable[[], None] | None = None
    ) -> None:
        super().__init__(engine, outbox)
        self.on_queued = on_queued

    @contextmanager
    def _transaction(self, conn: Connection) -> Iterator[UnitOfWork]:
        with super()._transaction(conn) as uow:
            yield uow
        if uow.queued and self.on_queued is not None:
            self.on_queued()


# --- Texting consent: may this phone number be texted? -------------------------------------
# One row per E.164 number (not per member: consent belongs to whoever holds the phone, and STOP
# arrives from a number). `source` says what changed it last, e.g. "text: STOP", "provider: 21610".
OPTED_IN, OPTED_OUT, INVALID = "opted_in", "opted_out", "invalid"

sms_consents = sa.Table(
    "sms_consents",
    meta,
    sa.Column("phone", sa.String(20), primary_key=True),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("changed_at", UTCDateTime, nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
)


def sms_state(uow: UnitOfWork, phone: str) -> str | None:
    """OPTED_IN, OPTED_OUT or INVALID, or None if the number never said either way."""
    return uow.conn.execute(  # type: ignore[no-any-return]
        sa.select(sms_consents.c.state).where(sms_consents.c.phone == phone)
    ).scalar()


def may_text(uow: UnitOfWork, phone: str) -> bool:
    """Only numbers that opted in, and since have neither opted out nor proved undeliverable."""
    return sms_state(uow, phone) == OPTED_IN


def record_sms_state(uow: UnitOfWork, phone: str, state: str, source: str, now: datetime) -> None:
    """The number's consent as of `now`; the newest change wins, whatever its source."""
    row = insert(uow.conn, sms_consents).values(
        phone=phone, state=state, changed_at=now, source=source[:200]
    )
    uow.conn.execute(
        row.on_conflict_do_update(
            index_elements=[sms_consents.c.phone],
            set_={"state": row.excluded.state, "changed_at": now, "source": row.excluded.source},
        )
    )
