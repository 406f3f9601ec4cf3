"""What the card helper agrees to sign: a registration statement for the asking page, only.

The rule: the helper signs only a registration statement (`registration_statement`, sent as
base64url without padding) that
- is in the platform's exact encoding, first line `mykey-ledger/registration/v1`;
- names, in its `origin=` line, exactly the Origin header of the page asking now (which the
  origin policy has already found on the allow list); `origin=-` is never signed;
- has not expired: `expires_at` is later than the helper's clock, less `CLOCK_SKEW_SECONDS`.
Anything else is refused before the card is touched, so an allowed page cannot use the helper as
a signing oracle:
- the counter's 32-byte service-ID lookup challenges (api/chain/lookups.py) have no header and
  are refused as `malformed-challenge`;
- the terminal-action, reserve-placement and card-rebinding statements carry their own first
  line and are refused the same way, so a page never gets a redemption, voucher or reserve
  approved with the resident's card;
- a registration statement issued to another site (or to no site) is refused as
  `origin-mismatch`, and a stale one as `challenge-expired`.
The card itself signs SHA-256 of the statement (card_bridge.jpki.JpkiCard.sign), exactly what the
platform verifies for a registration. The PIN must be exactly 4 ASCII digits; anything else is
refused here, without a try being used on the card.
"""

from __future__ import annotations

import re

from card_bridge.browser_helper.registration_statement import (
    MAX_STATEMENT_BYTES,
    MalformedChallenge,
    decode_base64url,
    parse_registration_statement,
)
from card_bridge.errors import CardBridgeError, InvalidPinFormat

CLOCK_SKEW_SECONDS = 120
"""How far the resident's PC clock may lag the platform's before a fresh statement looks stale."""

MAX_CHALLENGE_TEXT = (MAX_STATEMENT_BYTES * 4 + 2) // 3
"""The longest base64url text a registration statement can take."""

_PIN_TEXT = re.compile(r"[0-9]{4}")


class OriginMismatch(CardBridgeError):
    """The statement was issued for another page than the one asking; nothing was signed."""


class StatementExpired(CardBridgeError):
    """The statement's deadline has passed; nothing was signed."""


def check_registration_statement(text: object, *, origin: str, now: float) -> bytes:
    """Return the statement bytes of `text` if the helper may sign them for `origin` at `now`.

    `origin` is the request's Origin header (already allowed). Raises MalformedChallenge for
    anything but a registration statement, OriginMismatch when it names another origin, and
    StatementExpired when `expires_at` is past (less CLOCK_SKEW_SECONDS).
    """
    if not isinstance(text, str) or not text or len(text) > MAX_CHALLENGE_TEXT:
        raise MalformedChallenge(
            "the challenge must be the registration statement the MyKey platform issued, as "
            "base64url text; the card helper signs nothing else"
        )
    data = decode_base64url(text)
    statement = parse_registration_statement(data)
    if statement.origin != origin:
        raise OriginMismatch(
            f"the statement was issued for {statement.origin!r}, not for the page at {origin}: "
            "get a new challenge from this page"
        )
    if statement.expires_at + CLOCK_SKEW_SECONDS <= now:
        raise StatementExpired(
            "the registration statement has expired: reload the page for a new one (and check "
            "that this PC's clock is right)"
        )
    return data


def check_pin_shape(pin: object) -> str:
    """Return `pin` if it is exactly 4 ASCII digits; raise InvalidPinFormat otherwise."""
    if not isinstance(pin, str) or _PIN_TEXT.fullmatch(pin) is None:
        raise InvalidPinFormat("the authentication PIN is 4 digits (0-9); nothing was sent")
    return pin
