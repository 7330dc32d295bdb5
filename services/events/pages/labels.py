"""What the pages call things: kinds, roles, visibilities and form fields, and their filters."""

from __future__ import annotations

from services.events.pages import bp

KIND_LABELS = {
    "peer_lunch": "Peer lunch",
    "consult_group": "Consult group",
    "celebration": "Celebration",
    "training": "Training",
    "social": "Social",
}
ROLE_LABELS = {"member": "Member", "organizer": "Organizer"}
EVENT_VISIBILITY_CHOICES = [
    ("community", "Community", "Members of this community can see it."),
    (
        "private",
        "Private",
        "Members only, and its description stays inside Hearth: never in feeds, emails or texts.",
    ),
    ("public", "Public", "Anyone with the link can see it (consult groups cannot be public)."),
]
COMMUNITY_VISIBILITY_CHOICES = [
    ("private", "Private", "Only members can see the community and its events."),
    ("public", "Public", "Anyone can see the community and its public events."),
]

EVENT_LABELS = {
    "kind": "Kind of event",
    "title": "Title",
    "description": "Description",
    "starts_at": "Starts",
    "ends_at": "Ends",
    "all_day": "All day",
    "starts_on": "First day",
    "ends_on": "Last day",
    "timezone": "Time zone",
    "rrule": "Repeats",
    "interval": "Number of weeks",
    "ends": "Series ends",
    "count": "Number of times",
    "until": "Last date",
    "location": "Location",
    "online_url": "Online link",
    "capacity": "Capacity",
    "guest_limit": "Guests each attendee may bring",
    "rsvp_deadline": "RSVP deadline",
    "visibility": "Who can see it",
    "honoree_email": "Honoree's email",
    "surprise": "Surprise",
    "ce_hours": "CE hours",
    "presenter": "Presenter",
}
COMMUNITY_LABELS = {
    "name": "Name",
    "slug": "Web address",
    "timezone": "Time zone",
    "description": "Description",
    "visibility": "Who can see it",
}
MEMBER_LABELS = {"email": "Email", "name": "Name", "phone": "Mobile phone", "role": "Role"}
# One date of a series, in the order of its form; an all-day date takes days, not times.
DATE_LABELS = {
    "starts_at": "Starts",
    "ends_at": "Ends",
    "title": "Title",
    "location": "Location",
    "online_url": "Online link",
    "description": "Description",
}
ALL_DAY_DATE_LABELS = {**DATE_LABELS, "starts_at": "First day", "ends_at": "Last day"}


@bp.app_template_filter("kind_label")
def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


@bp.app_template_filter("role_label")
def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role)
