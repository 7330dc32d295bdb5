"""Who is asking the rsvps service: a member's API token or the shared session cookie.

The events service signs members in and issues tokens; this service knows tokens only by the
digests announced in `events.api_token_issued` (shared.tokens), and reads the member id the
events service put in the shared, signed session cookie. It never asks the events service.
"""

from __future__ import annotations

from flask import current_app, request, session

from shared.tokens import bearer_token, digest


def current_member_id() -> str | None:
    """The member behind a Bearer token or the session cookie, or None. A token issued a moment
    ago is known once its message has arrived."""
    token = bearer_token(request.headers.get("Authorization", ""))
    if token is not None:
        with current_app.extensions["hearth.store"].begin() as uow:
            member_id: str | None = uow.member_for_token_hash(digest(token))
            return member_id
    member_id = session.get("member_id")
    return member_id if isinstance(member_id, str) else None
