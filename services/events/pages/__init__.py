"""The events service's HTML pages, on the blueprint `bp`: home, communities, organizers' forms.

Forms post strings; each view turns them into the same typed values the JSON API's schemas
produce and hands them to the use cases in `operations`, which hold every rule. Errors come back
as `{field: message}` and are shown next to their fields, with everything the person typed kept.
"""

from __future__ import annotations

from flask import Blueprint, current_app

bp = Blueprint("pages", __name__)


def store():  # type: ignore[no-untyped-def]
    return current_app.extensions["hearth.store"]


# Imported last: these modules put their routes and template filters on `bp` as they load.
from services.events.pages import communities, dates, events, labels, mine  # noqa: E402, F401
