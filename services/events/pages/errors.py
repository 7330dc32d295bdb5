"""What a view shows when a use case refuses: a 404 or 403 page, or sign-in if signed out."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, redirect, request, url_for

from services.events.auth import current_member_id
from services.events.operations import Forbidden, NotFound
from shared.inputs import sentence


def sign_in_redirect() -> Any:
    """Send a signed-out visitor to sign in, and back here afterwards."""
    query = request.method == "GET" and request.query_string
    back = request.full_path if query else request.path
    return redirect(url_for("auth.sign_in", next=back))


def page_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the use cases' NotFound and Forbidden into friendly 404 and 403 pages; a signed-out
    visitor is asked to sign in instead (which reveals nothing about what exists)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except NotFound as error:
            if current_member_id() is None:
                return sign_in_redirect()
            abort(404, description=sentence(str(error)))
        except Forbidden as error:
            if current_member_id() is None:
                return sign_in_redirect()
            abort(403, description=sentence(str(error)))

    return wrapper
