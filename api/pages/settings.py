"""What the pages need beyond the API's settings: the ledger's RPC URL, cookies, dev facilities.

`PagesSettings` is built by the caller and handed to `create_app(..., pages=...)`; nothing reads the
environment here. The virtual card is a test and development facility only: it is off unless a
`VirtualCardDesk` is passed in, and every page that offers it says so in words. The card helper's
URL points at the resident's own PC (127.0.0.1), never at this server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from card_bridge.browser_helper.config import DEFAULT_HELPER_URL

if TYPE_CHECKING:
    from api.pages.resident_points import PointsReader
    from contracts.deploy import Deployment


@dataclass(frozen=True)
class CardAnswer:
    """A card's answer to a challenge: its auth certificate (DER) and its signature."""

    certificate_der: bytes
    signature: bytes


class VirtualCardDesk(Protocol):
    """Answers a registration challenge with a virtual My Number Card (tests and dev only)."""

    def answer_challenge(self, *, challenge: bytes, pin: str) -> CardAnswer:
        """Return the answer of a fresh virtual card after checking `pin` on it.

        Raises VirtualCardRefused with a message a person can act on (wrong PIN, locked card).
        """
        ...


class VirtualCardHolder(VirtualCardDesk, Protocol):
    """A desk that also keeps each registered card, so its holder can sign later actions."""

    def sign_with_card(self, *, certificate_fingerprint: str, data: bytes, pin: str) -> CardAnswer:
        """Sign `data` with the card whose auth certificate has this SHA-256 fingerprint.

        Raises VirtualCardRefused (unknown card, wrong PIN, locked).
        """
        ...


class VirtualCardRefused(Exception):
    """The virtual card refused (wrong PIN, locked); `tries_left` when the card said it."""

    def __init__(self, message_ja: str, message_en: str, tries_left: int | None = None) -> None:
        super().__init__(message_en)
        self.message_ja = message_ja
        self.message_en = message_en
        self.tries_left = tries_left


@dataclass(frozen=True)
class PagesSettings:
    """Settings of the browser pages."""

    rpc_url: str | None = None
    """JSON-RPC URL of a ledger node for the explorer; None shows 'not connected'."""
    deployment: Deployment | None = None
    """Where the ledger contracts live, for decoding point events; None shows raw logs only."""
    virtual_card: VirtualCardHolder | None = None
    """Tests and development only: answer the card step in-process with a virtual card."""
    points_reader: PointsReader | None = None
    """My Page's ledger reads; None uses the app's chain side (`create_app(chain=...)`) if any."""
    secure_cookies: bool = True
    """Mark session cookies `Secure` (HTTPS only); tests on plain http://127.0.0.1 turn it off."""
    explorer_refresh_seconds: int = 5
    """How often the explorer's latest-blocks panel re-fetches itself."""
    rpc_timeout_seconds: float = 5.0
    card_helper_url: str = DEFAULT_HELPER_URL
    """Where the registration page's script finds the card helper (`mykey card helper`) on the
    resident's own PC; the PIN goes there, never to this server."""
