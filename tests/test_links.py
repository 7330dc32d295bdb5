"""Signed links: only the deployment's key makes them, and each works for its own purpose only."""

from shared.links import (
    link_id_of,
    manage_rsvp_url,
    rsvp_id_of,
    sign_in_url,
)


def token(url):
    return url.rsplit("/", 1)[1]


def test_a_link_opens_only_what_it_was_made_for():
    sign_in = token(sign_in_url("key", "https://hearth.test", "link-1"))
    manage = token(manage_rsvp_url("key", "https://hearth.test", "rsvp-1"))
    assert link_id_of("key", sign_in) == "link-1"
    assert rsvp_id_of("key", manage) == "rsvp-1"
    assert rsvp_id_of("key", sign_in) is None
    assert link_id_of("key", manage) is None


def test_a_link_made_with_another_key_or_altered_opens_nothing():
    manage = token(manage_rsvp_url("key", "", "rsvp-1"))
    assert rsvp_id_of("other-key", manage) is None
    value, signature = manage.split(".")
    altered = signature.replace(signature[0], "A" if signature[0] != "A" else "B", 1)
    assert rsvp_id_of("key", f"{value}.{altered}") is None
    assert rsvp_id_of("key", "not-a-token") is None
