"""Every answer the card helper refuses with, as an RFC 9457 problem detail (JSON).

A page shows its own words for each `code` (in the page's language); `detail` is English for
logs and developers, and `tries_left` comes with `wrong-pin`. No problem carries the PIN, the
certificate or the challenge (a refusal may name the statement's origin, never its
random part).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from card_bridge.browser_helper.card_desk import CardBusy
from card_bridge.browser_helper.registration_statement import MalformedChallenge
from card_bridge.browser_helper.signing_rule import OriginMismatch, StatementExpired
from card_bridge.errors import (
    CardBridgeError,
    CardInUse,
    CardRemoved,
    InvalidPinFormat,
    NoCardPresent,
    NotMyNumberCard,
    PcscUnavailable,
    PinLocked,
    ReaderNotFound,
    WrongPin,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:mykey-ledger:card-helper:"


@dataclass(frozen=True)
class Problem:
    """One refusal: HTTP status, a stable code for the page, a title and an English detail."""

    status: int
    code: str
    title: str
    detail: str
    extra: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """Return the problem body."""
        return {
            "type": PROBLEM_TYPE_PREFIX + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            **self.extra,
        }


_BY_ERROR: tuple[tuple[type[CardBridgeError], int, str, str], ...] = (
    (CardBusy, 409, "card-busy", "Card busy"),
    (MalformedChallenge, 422, "malformed-challenge", "Malformed challenge"),
    (OriginMismatch, 403, "origin-mismatch", "Challenge issued for another page"),
    (StatementExpired, 422, "challenge-expired", "Challenge expired"),
    (InvalidPinFormat, 422, "malformed-pin", "Malformed PIN"),
    (PcscUnavailable, 503, "pcsc-unavailable", "Card service not running"),
    (ReaderNotFound, 503, "no-reader", "No card reader"),
    (NoCardPresent, 409, "no-card", "No card in the reader"),
    (CardInUse, 409, "card-in-use", "Card in use by another program"),
    (CardRemoved, 409, "card-removed", "Card removed"),
    (NotMyNumberCard, 422, "not-my-number-card", "Not a My Number Card"),
    (WrongPin, 403, "wrong-pin", "Wrong PIN"),
    (PinLocked, 423, "pin-locked", "PIN locked"),
)


def problem_for(error: CardBridgeError) -> Problem:
    """Return the problem that tells a page about `error`."""
    for kind, status, code, title in _BY_ERROR:
        if isinstance(error, kind):
            extra = {"tries_left": error.tries_left} if isinstance(error, WrongPin) else {}
            return Problem(status, code, title, str(error), extra)
    return Problem(502, "card-error", "Card error", str(error))


def request_problem(status: int, code: str, detail: str) -> Problem:
    """Return a problem about the request itself (origin, size, method, body)."""
    titles = {
        400: "Malformed request",
        403: "Forbidden",
        404: "Not found",
        405: "Method not allowed",
        413: "Request too large",
        415: "Unsupported media type",
        500: "Internal error",
    }
    return Problem(status, code, titles.get(status, "Refused"), detail)
