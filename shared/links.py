"""Links that carry their own proof, so no usable secret is ever stored or sent.

A link's token is an HMAC of an id under the deployment's secret key, with a different salt for
each purpose (a sign-in token cannot open an RSVP, nor the reverse). Databases and the bus hold
only ids: reading them (a leaked backup, a curious operator, a dead-letter queue) gives nothing
to act with. Whoever delivers a link signs the id with the same key, which every process of a
deployment shares.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

SIGN_IN = "hearth.sign-in-link"
MANAGE_RSVP = "hearth.manage-rsvp"


def token_for(secret_key: str, purpose: str, value: str) -> str:
    return URLSafeSerializer(secret_key, salt=purpose).dumps(value)


def value_of(secret_key: str, purpose: str, token: str) -> str | None:
    """The id a token was made for, or None unless it was made with this key for `purpose`."""
    try:
        value = URLSafeSerializer(secret_key, salt=purpose).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def sign_in_url(secret_key: str, base_url: str, link_id: str) -> str:
    return f"{base_url}/sign-in/{token_for(secret_key, SIGN_IN, link_id)}"


def link_id_of(secret_key: str, token: str) -> str | None:
    return value_of(secret_key, SIGN_IN, token)


def manage_rsvp_url(secret_key: str, base_url: str, rsvp_id: str) -> str:
    return f"{base_url}/rsvps/manage/{token_for(secret_key, MANAGE_RSVP, rsvp_id)}"


def rsvp_id_of(secret_key: str, token: str) -> str | None:
    return value_of(secret_key, MANAGE_RSVP, token)


# The notifications service's links in every mail: the person's preferences page, and one-click
# unsubscribe from one category on one channel. Both name an email address, the key preferences
# are kept under, so people who answered without an account have them too.
PREFERENCES = "hearth.preferences"
UNSUBSCRIBE = "hearth.unsubscribe"


def preferences_url(secret_key: str, base_url: str, address: str) -> str:
    token = token_for(secret_key, PREFERENCES, address.casefold())
    return f"{base_url}/notifications/preferences/{token}"


def address_of(secret_key: str, token: str) -> str | None:
    return value_of(secret_key, PREFERENCES, token)


def unsubscribe_url(
    secret_key: str, base_url: str, address: str, channel: str, category: str
) -> str:
    value = f"{channel}:{category}:{address.casefold()}"
    return f"{base_url}/notifications/unsubscribe/{token_for(secret_key, UNSUBSCRIBE, value)}"


def unsubscription_of(secret_key: str, token: str) -> tuple[str, str, str] | None:
    """(channel, category, address) of an unsubscribe token, or None if it is not one."""
    value = value_of(secret_key, UNSUBSCRIBE, token)
    if value is None or value.count(":") < 2:
        return None
    channel, category, address = value.split(":", 2)
    return channel, category, address
