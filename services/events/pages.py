"""The events service's HTML pages: home, communities and the organizers' forms."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, session

bp = Blueprint("pages", __name__)


def store():  # type: ignore[no-untyped-def]
    return current_app.extensions["hearth.store"]


@bp.get("/")
def home() -> Any:
    member_id = session.get("member_id")
    if member_id is None:
        return render_template("welcome.html")
    with store().begin() as uow:
        member = uow.member_by_id(member_id)
        communities = uow.communities_of(member_id)
    return render_template("home.html", member=member, communities=communities)
