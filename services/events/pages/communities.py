"""The views of the home page and of communities: create one, see it, invite its members."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app, flash, redirect, render_template, request, session, url_for
from marshmallow import ValidationError

from services.events import calendar, operations
from services.events.auth import current_member_id, request_context
from services.events.model import CANCELLED, ROLES, Invalid, can_manage, zone
from services.events.operations import Conflict
from services.events.pages import bp, store
from services.events.pages.errors import page_errors, sign_in_redirect
from services.events.pages.forms import blank_to_none
from services.events.pages.labels import (
    COMMUNITY_LABELS,
    COMMUNITY_VISIBILITY_CHOICES,
    MEMBER_LABELS,
    ROLE_LABELS,
)
from services.events.pages.words import occurrence_words
from services.events.pages.zones import DEFAULT_ZONE, zone_groups
from services.events.schemas import CommunityInput, MemberInput
from shared.inputs import messages_by_field, phone_e164
from shared.timewords import when

UPCOMING = timedelta(weeks=8)


@bp.get("/")
def home() -> Any:
    member_id = session.get("member_id")
    if member_id is None:
        return render_template("welcome.html")
    with store().begin() as uow:
        member = uow.member_by_id(member_id)
        communities = uow.communities_of(member_id)
    return render_template("home.html", member=member, communities=communities)


def _render_new_community(form: dict[str, str], errors: dict[str, str], status: int = 200) -> Any:
    return render_template(
        "community_new.html",
        form=form,
        errors=errors,
        labels=COMMUNITY_LABELS,
        zones=zone_groups(form["timezone"]),
        visibilities=COMMUNITY_VISIBILITY_CHOICES,
    ), status


@bp.route("/communities/new", methods=["GET", "POST"])
def new_community() -> Any:
    if current_member_id() is None:
        return sign_in_redirect()
    names = ("name", "slug", "timezone", "description", "visibility")
    if request.method == "GET":
        form = dict.fromkeys(names, "") | {"timezone": DEFAULT_ZONE, "visibility": "private"}
        return _render_new_community(form, {})
    form = {name: request.form.get(name, "") for name in names}
    data = {
        "name": form["name"],
        "slug": blank_to_none(form["slug"]),
        "timezone": form["timezone"],
        "description": form["description"].replace("\r\n", "\n"),
        "visibility": form["visibility"],
    }
    try:
        values = CommunityInput().load(data)
        with store().begin() as uow:
            community = operations.create_community(uow, request_context(), values)
    except ValidationError as error:
        return _render_new_community(form, messages_by_field(error), 422)
    except Invalid as error:
        return _render_new_community(form, error.errors, 422)
    except Conflict as error:
        return _render_new_community(form, {error.field or "name": str(error)}, 409)
    flash(f"{community.name} is ready. Invite members and schedule its first event.")
    return redirect(url_for(".community", slug=community.slug))


def _community_page(
    slug: str,
    invite: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Any:
    ctx = request_context()
    now = datetime.now(UTC)
    with store().begin() as uow:
        community, role = operations.community_for(uow, slug, ctx)
        events = uow.events_between(community.id, now, now + UPCOMING)
        members = uow.members_of(community.id) if can_manage(role) else []
        email = operations.email_of(uow, ctx)
    tz = zone(community.timezone)
    upcoming = []
    for event in events:
        if not event.visible_to(role, community, email):
            continue
        for occurrence in event.occurrences(now, now + UPCOMING):
            starts = occurrence.starts_at.astimezone(tz)
            upcoming.append(
                {
                    "event": event,
                    "starts_at": starts,
                    # Whole days are the same days everywhere: said without times or zone.
                    "when": (
                        occurrence_words(occurrence)
                        if occurrence.all_day
                        else when(starts, occurrence.ends_at)
                    ),
                    "cancelled": occurrence.status == CANCELLED,
                    "all_day": occurrence.all_day,
                }
            )
    upcoming.sort(key=lambda item: (item["starts_at"], item["event"].title))
    return render_template(
        "community.html",
        community=community,
        role=role,
        organizer=can_manage(role),
        upcoming=upcoming,
        weeks=UPCOMING.days // 7,
        members=members,
        invite=invite or {"email": "", "name": "", "phone": "", "role": "member"},
        errors=errors or {},
        labels=MEMBER_LABELS,
        roles=[(role_name, ROLE_LABELS[role_name]) for role_name in ROLES],
        feed=calendar.https_and_webcal(
            current_app.config["HEARTH_BASE_URL"],
            calendar.community_feed_path(community, members=role is not None),
        ),
    ), status


@bp.get("/c/<slug>")
@page_errors
def community(slug: str) -> Any:
    return _community_page(slug)


@bp.get("/c/<slug>/members")
def members_form(slug: str) -> Any:
    return redirect(url_for(".community", slug=slug, _anchor="invite"))


@bp.post("/c/<slug>/members")
@page_errors
def invite_member(slug: str) -> Any:
    ctx = request_context()
    with store().begin() as uow:
        community, _ = operations.community_for(uow, slug, ctx)
        operations.require_organizer(uow, community, ctx)
    invite = {name: request.form.get(name, "") for name in ("email", "name", "phone", "role")}
    data = {
        "email": invite["email"].strip(),
        "name": invite["name"].strip(),
        "phone": blank_to_none(invite["phone"]),
        "role": invite["role"],
    }
    errors: dict[str, str] = {}
    try:
        values = MemberInput().load(data)
    except ValidationError as error:
        errors, values = messages_by_field(error), {}
    try:
        phone = phone_e164(data["phone"])
    except ValidationError as error:
        errors["phone"] = str(error.messages[0])  # type: ignore[index]
    if errors:
        return _community_page(slug, invite, errors, 422)
    values["phone"] = phone
    try:
        with store().begin() as uow:
            member, role, created = operations.add_member(uow, ctx, community, values)
    except Invalid as error:
        return _community_page(slug, invite, error.errors, 422)
    if created:
        flash(f"Invited {member.name} ({member.email}) as {ROLE_LABELS[role].lower()}.")
    else:
        article = "an" if role == "organizer" else "a"
        flash(f"{member.name} is {article} {role} of {community.name}.")
    return redirect(url_for(".community", slug=slug))
