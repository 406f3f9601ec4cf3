"""What the card helper agrees to sign: the registration challenge's shape, and nothing else.

The rule: the helper signs only a challenge written as exactly 43 base64url characters without
padding that decode to exactly 32 bytes: the shape `POST /registrations/card-challenges` issues
(32 random bytes, base64url, no padding; api/services/registration.py). Anything else is refused
before the card is touched, so a page cannot use the helper as a signing oracle for other data:
- the counter's terminal-action statements (`mykey-ledger/terminal-action/v1` followed by
  key=value lines, card_bridge/counter/statements.py) are UTF-8 text far longer than 32 bytes,
  so a page can never get the resident's card to approve a redemption or a voucher;
- a document, a hash of one written as hex, or a padded or re-encoded value is refused as well.
The card itself signs SHA-256 of these 32 bytes (card_bridge.jpki.JpkiCard.sign), exactly what
the platform verifies for a registration. The PIN must be exactly 4 ASCII digits; anything else
is refused here, without a try being used on the card.
"""

from __future__ import annotations

import base64
import binascii
import re

from card_bridge.errors import CardBridgeError, InvalidPinFormat

REGISTRATION_CHALLENGE_BYTES = 32
"""The API's registration challenge is 32 random bytes."""

_CHALLENGE_TEXT = re.compile(r"[A-Za-z0-9_-]{43}")
"""32 bytes in base64url without padding is always 43 characters."""

_PIN_TEXT = re.compile(r"[0-9]{4}")


class MalformedChallenge(CardBridgeError):
    """The challenge is not a registration challenge; nothing was sent to the card."""


def parse_registration_challenge(text: object) -> bytes:
    """Return the 32 challenge bytes of `text`; raise MalformedChallenge for any other shape."""
    if not isinstance(text, str) or _CHALLENGE_TEXT.fullmatch(text) is None:
        raise MalformedChallenge(
            "the challenge must be the registration challenge the MyKey platform issued: "
            "43 base64url characters (32 bytes); the card helper signs nothing else"
        )
    try:
        value = base64.urlsafe_b64decode(text + "=")
    except (binascii.Error, ValueError):
        raise MalformedChallenge("the challenge is not valid base64url") from None
    if len(value) != REGISTRATION_CHALLENGE_BYTES or _encode(value) != text:
        raise MalformedChallenge("the challenge is not in the platform's exact encoding")
    return value


def check_pin_shape(pin: object) -> str:
    """Return `pin` if it is exactly 4 ASCII digits; raise InvalidPinFormat otherwise."""
    if not isinstance(pin, str) or _PIN_TEXT.fullmatch(pin) is None:
        raise InvalidPinFormat("the authentication PIN is 4 digits (0-9); nothing was sent")
    return pin


def _encode(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode("ascii")
