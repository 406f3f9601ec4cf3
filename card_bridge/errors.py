"""Every error the card bridge raises: one class per thing a person at a counter can act on.

Invariants: no message or attribute ever carries PIN bytes, and none carries certificate contents
beyond what a person needs to act (the reader name, the status word, the tries left).
"""

from __future__ import annotations


class CardBridgeError(Exception):
    """Base of every card-bridge error; the message says what to do next."""


class PcscUnavailable(CardBridgeError):
    """The PC/SC service (pcscd) is not running or cannot be reached."""


class ReaderNotFound(CardBridgeError):
    """No reader with the requested name, or no reader at all, is attached."""


class NoCardPresent(CardBridgeError):
    """No card was in the reader before the deadline."""


class CardInUse(CardBridgeError):
    """Another program holds the card exclusively (a second terminal program, a browser plug-in)."""


class CardRemoved(CardBridgeError):
    """The card left the reader (or its link dropped) in the middle of an operation."""


class CardCommunicationError(CardBridgeError):
    """The reader or the card failed in a way that is neither removal nor a status word."""


class NotMyNumberCard(CardBridgeError):
    """The card has no JPKI application, or its token is not `JPKIAPICCTOKEN2`."""


class ApduNotAllowed(CardBridgeError):
    """The allow-list refused a command before it reached the card.

    This is a programming error in the caller, never something a resident did: only the JPKI
    application, EFs 0006/000A/000B/0017/0018 and instructions A4/B0/20/2A are ever sent.
    """


class CardCommandFailed(CardBridgeError):
    """The card answered a command with an unexpected status word."""

    def __init__(self, message: str, status_word: int) -> None:
        super().__init__(message)
        self.status_word = status_word


class InvalidPinFormat(CardBridgeError, ValueError):
    """The PIN given is not 4 digits; it was not sent to the card and no try was used."""


class WrongPin(CardBridgeError):
    """The card refused the PIN; `tries_left` tries remain before it locks (at least 1)."""

    def __init__(self, tries_left: int) -> None:
        super().__init__(
            f"wrong PIN: {tries_left} {'try' if tries_left == 1 else 'tries'} left before the "
            "card's authentication PIN locks (the municipal office can reset it)"
        )
        self.tries_left = tries_left


class PinLocked(CardBridgeError):
    """The authentication PIN is locked; only the municipal office can reset it."""

    def __init__(self) -> None:
        super().__init__(
            "the card's authentication PIN is locked: the resident must have it reset at the "
            "municipal office (the card will not sign until then)"
        )


class PinRequired(CardBridgeError):
    """The card refused to sign because the PIN has not been verified in this session."""
