"""Personal API tokens: random, kept by every service only as a digest, sent as a Bearer header.

The events service issues them and announces each one's digest, never the token; a service that
authenticates API callers keeps digest → member and hashes the presented token the same way.
"""

from __future__ import annotations

import hashlib
import secrets

BEARER = "Bearer "


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """Tokens are stored hashed: a leaked database row or message cannot be used to sign in.
    A token has 256 random bits, so a plain SHA-256 is enough; no salt or stretching needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (perhaps empty, which matches no
    member), or None for any other header: a caller who sends a Bearer header is judged by it
    alone, never by a cookie the browser added."""
    if not authorization.startswith(BEARER):
        return None
    return authorization[len(BEARER) :].strip()
