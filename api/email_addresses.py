"""A conservative check of e-mail addresses typed by residents.

Accepts the addresses people actually have: an ASCII local part of the RFC 5322 dot-atom form and
a domain with at least one dot, 254 characters at most (RFC 5321's path limit). Rejecting quoted
local parts and address literals costs nobody real and keeps header injection impossible.
"""

from __future__ import annotations

import re

MAX_EMAIL_LENGTH = 254
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})+")


def is_valid_email(address: str) -> bool:
    """Return True when `address` is a plain, deliverable-looking e-mail address."""
    return len(address) <= MAX_EMAIL_LENGTH and _EMAIL.fullmatch(address) is not None
