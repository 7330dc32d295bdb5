"""Who is asking: personal API tokens, the shared session cookie, and sign-in by emailed link.

A sign-in link is single use and lives 15 minutes; its token is never stored (shared.links).
Opening it (GET) only shows a button: corporate mail scanners open every link, and must not use
it up; the POST signs in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from services.events import operations
from shared.links import link_id_of
from shared.ratelimit import SIGN_IN_PER_CLIENT
from shared.tokens import bearer_token
from shared.web import correlation_id, rate_limit

bp = Blueprint("auth", __name__)


def current_member_id() -> str | None:
    """The member behind a Bearer token or the session cookie, or None."""
    token = bearer_token(request.headers.get("Authorization", ""))
    if token is not None:
        with current_app.extensions["hearth.store"].begin() as uow:
            return uow.member_for_api_token(token)
    return session.get("member_id")


def request_context() -> operations.Context:
    """Who is asking, and the ids that tie this request to the messages it causes."""
    return operations.Context(
        member_id=current_member_id(),
        correlation_id=correlation_id(),
        base_url=current_app.config["HEARTH_BASE_URL"],
    )


def _safe_next(url: str | None) -> str | None:
    # Only same-site paths, so a crafted link cannot send someone elsewhere after signing in.
    # Browsers read a backslash as a slash, so "/\\evil.example" is "//evil.example" to them.
    if not url or len(url) > 500 or not url.startswith("/") or url.startswith("//"):
        return None
    if "\\" in url or any(ord(character) < 32 for character in url):
        return None
    if urlsplit(url).netloc:
        return None
    return url


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("sign_in.html", next=next_url, errors={}, email="")
    email = request.form.get("email", "").strip()
    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError:
        return render_template(
            "sign_in.html",
            next=next_url,
            email=email,
            errors={
                "email": "Give the email address you were invited with, like name@example.org."
            },
        ), 422
    rate_limit(SIGN_IN_PER_CLIENT, "sign-in")
    with current_app.extensions["hearth.store"].begin() as uow:
        operations.request_sign_in(uow, request_context(), email, next_url)
    # The same answer whether or not the address is a member's: no one can probe who belongs.
    return render_template("sign_in_sent.html", email=email)


@bp.get("/sign-in/<token>")
def confirm_sign_in(token: str) -> Any:
    link_id = link_id_of(current_app.config["SECRET_KEY"], token)
    with current_app.extensions["hearth.store"].begin() as uow:
        link = uow.sign_in_link(link_id) if link_id else None
    usable = link is not None and link.used_at is None and link.expires_at > datetime.now(UTC)
    return render_template("sign_in_confirm.html", token=token, usable=usable)


@bp.post("/sign-in/<token>")
def complete_sign_in(token: str) -> Any:
    link_id = link_id_of(current_app.config["SECRET_KEY"], token)
    with current_app.extensions["hearth.store"].begin() as uow:
        link = uow.use_sign_in_link(link_id, datetime.now(UTC)) if link_id else None
        member = uow.member_by_id(link.member_id) if link else None
    if link is None or member is None:
        return render_template("sign_in_confirm.html", token=token, usable=False), 410
    session.clear()
    session["member_id"] = link.member_id
    # The address the link went to, proven by opening it: the rsvps service finds a signed-in
    # person's own answers by it, as it knows members only by id.
    session["email"] = member.email
    session.permanent = True
    return redirect(_safe_next(link.next_url) or url_for("pages.home"))


@bp.post("/sign-out")
def sign_out() -> Any:
    session.clear()
    return redirect(url_for("pages.home"))
