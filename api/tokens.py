"""Opaque random tokens (sessions, registration and challenge IDs) and their stored hashes.

A session token goes to the client once; the store keeps only its SHA-256, so a copy of the
database cannot be used to log in. Tokens are 32 random bytes from `secrets` (256 bits).
"""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    """Return a fresh URL-safe token of 32 random bytes (43 characters)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Return the lower-case hex SHA-256 of `token`, the form kept in the store."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
