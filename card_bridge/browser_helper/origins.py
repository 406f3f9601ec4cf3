"""Which web pages may use the card helper: origin, host and CORS preflight rules, without sockets.

Rules (each one is a reason a hostile page on the resident's PC gets nothing):
- every request, preflight or not, must carry an Origin header that is exactly one of the
  allowed origins; anything else gets 403 and no CORS header, so the browser hides even the
  refusal from the page;
- the Host header must name the loopback address (127.0.0.1 or localhost, any port), so a page
  that rebinds its own DNS name to 127.0.0.1 is refused even before its Origin is looked at;
- a preflight may ask only for GET or POST and only the Content-Type header; Chrome's Private
  Network Access preflight (`Access-Control-Request-Private-Network: true`) is granted only to an
  allowed origin;
- answers vary by Origin and are never cached, so one site's answer is never reused for another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ALLOWED_METHODS = ("GET", "POST")
ALLOWED_REQUEST_HEADERS = frozenset({"content-type"})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost"})
PREFLIGHT_MAX_AGE_SECONDS = 600
"""Browsers may reuse a granted preflight for ten minutes."""


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused before any card operation: an HTTP status and a problem slug."""

    status: int
    code: str
    detail: str


@dataclass(frozen=True)
class OriginPolicy:
    """The allow list, applied to request headers."""

    allowed_origins: frozenset[str]

    def refuse(self, headers: Mapping[str, str]) -> Refusal | None:
        """Return why a request with `headers` must be refused, or None if it may proceed."""
        host = headers.get("Host", "")
        if _host_name(host) not in LOOPBACK_NAMES:
            return Refusal(
                403,
                "host-not-allowed",
                f"the Host header {host!r} does not name this helper; only pages that call "
                "http://127.0.0.1:<port> directly are answered",
            )
        origin = headers.get("Origin")
        if origin is None:
            return Refusal(
                403, "origin-not-allowed", "the request has no Origin header: only pages are served"
            )
        if origin not in self.allowed_origins:
            return Refusal(
                403,
                "origin-not-allowed",
                f"pages from {origin} may not use this card helper: it answers only the "
                "registration page's site given with --allow-origin",
            )
        return None

    def refuse_preflight(self, headers: Mapping[str, str]) -> Refusal | None:
        """Return why a CORS preflight (OPTIONS) must be refused, or None to grant it."""
        refusal = self.refuse(headers)
        if refusal is not None:
            return refusal
        method = headers.get("Access-Control-Request-Method", "")
        if method not in ALLOWED_METHODS:
            return Refusal(
                403, "method-not-allowed", f"the helper answers GET and POST only, not {method!r}"
            )
        asked = {
            name.strip().lower()
            for name in headers.get("Access-Control-Request-Headers", "").split(",")
            if name.strip()
        }
        extra = sorted(asked - ALLOWED_REQUEST_HEADERS)
        if extra:
            return Refusal(
                403,
                "header-not-allowed",
                f"the helper accepts only the Content-Type request header, not {', '.join(extra)}",
            )
        return None


def cors_headers(origin: str) -> dict[str, str]:
    """Headers of an answer to an allowed `origin` (call only after `refuse` returned None)."""
    return {
        "Access-Control-Allow-Origin": origin,
        "Vary": "Origin",
        "Cache-Control": "no-store",
    }


def preflight_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers that grant a preflight already checked by `refuse_preflight`."""
    granted = cors_headers(headers["Origin"])
    granted.update(
        {
            "Access-Control-Allow-Methods": ", ".join(ALLOWED_METHODS),
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
        }
    )
    if headers.get("Access-Control-Request-Private-Network", "").lower() == "true":
        granted["Access-Control-Allow-Private-Network"] = "true"
    return granted


def _host_name(host: str) -> str:
    """Return the name part of a Host header (`127.0.0.1:47831` -> `127.0.0.1`), lower-cased."""
    name, _separator, port = host.rpartition(":")
    if not _separator or not port.isdigit():
        name = host
    return name.lower()
