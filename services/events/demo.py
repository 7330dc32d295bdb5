"""The demo community `hearth dev` starts with: an organizer, members and one event of each kind."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from services.events import operations
from services.events.store import UnitOfWork

ORGANIZER = "organizer@example.org"
SLUG = "riverside"
TIMEZONE = "America/New_York"
MEMBERS = [
    ("sam@example.org", "Sam Rivera", "+12025550143"),
    ("priya@example.org", "Priya Natarajan", None),
    ("jordan@example.org", "Jordan Lee", None),
]


def grant_dev_token(uow: UnitOfWork, token: str, correlation_id: str) -> None:
    """Make `token` the demo organizer's API token, on every start (HEARTH_DEV_TOKEN); granting
    it again changes nothing, but announces it again for a service that has not seen it."""
    organizer = operations.ensure_member(uow, ORGANIZER, "Dana Okafor")
    try:
        operations.grant_api_token(uow, organizer, token, correlation_id)
    except operations.Conflict:
        raise ValueError(
            "HEARTH_DEV_TOKEN is already another member's token; choose another"
        ) from None


def seed(uow: UnitOfWork, ctx: operations.Context, today: date) -> bool:
    """Create the demo community unless it exists; False if it already did."""
    if uow.slug_taken(SLUG):
        return False
    organizer = operations.ensure_member(uow, ORGANIZER, "Dana Okafor")
    ctx = operations.Context(organizer.id, ctx.correlation_id, ctx.base_url)
    community = operations.create_community(
        uow,
        ctx,
        {
            "name": "Riverside Clinicians Network",
            "slug": SLUG,
            "timezone": TIMEZONE,
            "description": "Solo and small-practice therapists around Riverside: lunches, "
            "consultation and the occasional celebration.",
            "visibility": "private",
        },
    )
    for email, name, phone in MEMBERS:
        operations.add_member(
            uow, ctx, community, {"email": email, "name": name, "phone": phone, "role": "member"}
        )

    def on(weekday: int, weeks_ahead: int, hour: int, minute: int = 0) -> datetime:
        start = today + timedelta(days=(weekday - today.weekday()) % 7 + 7 * weeks_ahead)
        return datetime.combine(start, time(hour, minute))

    thursday = on(3, 1, 12)
    events = [
        {
            "kind": "consult_group",
            "title": "Thursday consult group",
            "description": "Bring a case you are stuck on. What is said here stays here.",
            "starts_at": thursday,
            "ends_at": thursday + timedelta(minutes=90),
            "rrule": "FREQ=WEEKLY;BYDAY=TH",
            "online_url": "https://video.example.org/riverside-consult",
            "capacity": 8,
            "visibility": "private",
        },
        {
            "kind": "peer_lunch",
            "title": "Peer lunch at Juniper Café",
            "starts_at": on(1, 1, 12, 30),
            "ends_at": on(1, 1, 13, 30),
            "location": "Juniper Café, 14 Mill Street",
            "capacity": 6,
        },
        {
            "kind": "celebration",
            "title": "Celebrating Priya's licensure",
            "description": "Cake, and a card to sign. Don't tell Priya!",
            "starts_at": on(4, 2, 17),
            "ends_at": on(4, 2, 19),
            "location": "Riverside Community Room",
            "honoree_email": "priya@example.org",
            "surprise": True,
        },
        {
            "kind": "training",
            "title": "Trauma-informed care in brief therapy",
            "description": "A half-day CE workshop with case discussion.",
            "starts_at": on(5, 3, 9),
            "ends_at": on(5, 3, 12, 30),
            "location": "Library Meeting Hall",
            "capacity": 25,
            "ce_hours": 3.0,
            "presenter": "Dr. Maya Chen, LPC",
        },
    ]
    for values in events:
        operations.schedule_event(uow, ctx, community, values)
    return True
