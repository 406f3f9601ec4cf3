"""The pages' cookies: a resident's My Page session, a staff session, a registration in progress.

Each cookie holds only a random token the API issued (never a MyKey ID or a password) and is
HttpOnly and SameSite=Strict: scripts cannot read it and another site's form cannot post with it,
which is what keeps the pages' forms safe from cross-site request forgery. It is `Secure` unless
the settings turn that off for plain-HTTP tests.
"""

from __future__ import annotations

from fastapi import Response

RESIDENT_SESSION = "mykey_session"
STAFF_SESSION = "mykey_staff_session"
REGISTRATION = "mykey_registration"


def set_token_cookie(
    response: Response, name: str, token: str, *, max_age: int, secure: bool
) -> None:
    """Store `token` in cookie `name` for `max_age` seconds."""
    response.set_cookie(
        name,
        token,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )


def clear_cookie(response: Response, name: str, *, secure: bool) -> None:
    """Remove cookie `name`."""
    response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=secure)
