"""The card helper's settings, checked once when it starts.

Invariants: the helper only ever listens on the loopback address (anything else is refused here,
before a socket exists), and every allowed origin is a bare `scheme://host[:port]` compared by
exact string match, so a page's Origin header either equals one of them or is refused.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from card_bridge.errors import CardBridgeError

DEFAULT_PORT = 47831
"""The port the registration page looks for the helper on, unless its settings say otherwise."""

DEFAULT_HELPER_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
"""Where the registration page expects the helper by default."""

LOOPBACK_HOST = "127.0.0.1"
"""The only address the helper binds: other machines on the network must never reach the card."""

MAX_BODY_BYTES = 1024
"""A request body holds a registration statement (at most 683 base64url characters) and a
4-digit PIN; anything bigger is refused."""

DEFAULT_CARD_WAIT_SECONDS = 5.0
"""How long an authentication waits for a card to be placed on the reader."""


class HelperConfigError(CardBridgeError):
    """A card-helper option is unusable; the message says which and why."""


@dataclass(frozen=True)
class HelperConfig:
    """What the helper was started with."""

    allowed_origins: frozenset[str]
    port: int = DEFAULT_PORT
    host: str = LOOPBACK_HOST
    reader: str | None = None
    card_wait_seconds: float = DEFAULT_CARD_WAIT_SECONDS
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        check_loopback(self.host)
        if not 0 <= self.port <= 65535:
            raise HelperConfigError(f"--port {self.port} is not a TCP port (0-65535)")
        if not self.allowed_origins:
            raise HelperConfigError(
                "give at least one --allow-origin: the address of the registration page, "
                "e.g. https://mykey.example.jp"
            )
        for origin in self.allowed_origins:
            if normalise_origin(origin) != origin:
                raise HelperConfigError(f"allowed origin {origin!r} is not in its exact form")
        if self.card_wait_seconds <= 0:
            raise HelperConfigError("the card wait must be a positive number of seconds")


def check_loopback(host: str) -> None:
    """Raise HelperConfigError unless `host` is the IPv4 loopback address 127.0.0.1."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise HelperConfigError(
            f"the card helper listens on {LOOPBACK_HOST} only, not on {host!r}"
        ) from None
    if str(address) != LOOPBACK_HOST:
        raise HelperConfigError(
            f"the card helper listens on {LOOPBACK_HOST} only, not on {host}: another machine "
            "must never be able to reach the card reader"
        )


def normalise_origin(text: str) -> str:
    """Return `text` as a browser writes an Origin header (`scheme://host[:port]`).

    Raises HelperConfigError for a wildcard, `null`, a path, credentials or a scheme other than
    http/https: an allow list entry must name exactly one site.
    """
    if text in {"*", "null"}:
        raise HelperConfigError(f"{text!r} cannot be allowed: name the registration page's site")
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        raise HelperConfigError(f"allowed origin {text!r} is not a URL") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise HelperConfigError(
            f"allowed origin {text!r} must look like https://host or http://host:port"
        )
    if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username:
        raise HelperConfigError(
            f"allowed origin {text!r} must be only scheme://host[:port], without a path"
        )
    try:
        port = parts.port
    except ValueError:
        raise HelperConfigError(f"allowed origin {text!r} has an invalid port") from None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    suffix = "" if port in {None, default} else f":{port}"
    return f"{parts.scheme}://{host}{suffix}"
