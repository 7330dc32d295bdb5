"""Sign-in links that carry their own proof, so no usable secret is ever stored or sent.

A link's token is an HMAC of its id under the deployment's secret key. The database and the
bus hold only the id: reading them (a leaked backup, a curious operator, the dead-letter queue)
gives nothing to sign in with. Whoever delivers the link signs the id with the same key, which
every process of a deployment shares.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "hearth.sign-in-link"


def sign_in_token(secret_key: str, link_id: str) -> str:
    return URLSafeSerializer(secret_key, salt=SALT).dumps(link_id)


def sign_in_url(secret_key: str, base_url: str, link_id: str) -> str:
    return f"{base_url}/sign-in/{sign_in_token(secret_key, link_id)}"


def link_id_of(secret_key: str, token: str) -> str | None:
    """The id a token was made for, or None if it was not made with this key."""
    try:
        link_id = URLSafeSerializer(secret_key, salt=SALT).loads(token)
    except BadSignature:
        return None
    return link_id if isinstance(link_id, str) else None
