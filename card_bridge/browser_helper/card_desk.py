"""The card helper's card operations: reader status and JPKI authentication, one at a time.

`CardDesk` works through the same ports and JPKI layer as `mykey card` and the counter
(`ReaderService`, `JpkiCard` over `GuardedChannel`), so only the allow-listed APDUs ever reach the
card. Its calls block (PC/SC is synchronous); the HTTP server runs them in a worker thread.

Invariants: at most one card operation runs at once (a second gets `CardBusy` at once, it does
not queue: a page must not be able to line up PIN attempts); the PIN is handed once to the card's
VERIFY and is neither logged nor kept; the card connection is closed (and the card reset, so its
verified PIN state ends) whatever happens.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from card_bridge.errors import CardBridgeError
from card_bridge.jpki import JpkiCard
from card_bridge.transport import ReaderService


class CardBusy(CardBridgeError):
    """Another card operation of this helper is still running."""


@dataclass(frozen=True)
class HelperStatus:
    """What a page may know before it asks for the PIN: no names, no certificate, no numbers."""

    reader_present: bool
    card_present: bool
    busy: bool


@dataclass(frozen=True)
class CardAnswer:
    """The card's answer to a registration challenge."""

    certificate_der: bytes
    signature: bytes


class CardDesk:
    """Runs status checks and authentications against one reader (or the first with a card)."""

    def __init__(self, readers: ReaderService, *, reader: str | None, card_wait: float) -> None:
        self._readers = readers
        self._reader = reader
        self._card_wait = card_wait
        self._operation = threading.Lock()

    def status(self) -> HelperStatus:
        """Return whether the reader (or any reader) is attached and holds a card.

        Raises PcscUnavailable when pcscd cannot be reached.
        """
        listed = self._readers.list_readers()
        if self._reader is not None:
            listed = [status for status in listed if status.name == self._reader]
        return HelperStatus(
            reader_present=bool(listed),
            card_present=any(status.card_present for status in listed),
            busy=self._operation.locked(),
        )

    def authenticate(self, *, challenge: bytes, pin: str) -> CardAnswer:
        """Read the auth certificate, VERIFY `pin` once, sign `challenge`; return both.

        Raises CardBusy, PcscUnavailable, ReaderNotFound, NoCardPresent, CardInUse,
        NotMyNumberCard, InvalidPinFormat, WrongPin (tries left), PinLocked, CardRemoved,
        CardCommandFailed.
        """
        if not self._operation.acquire(blocking=False):
            raise CardBusy(
                "the card helper is already using the card for another request: wait for it "
                "to finish and try again"
            )
        try:
            connection = self._readers.connect(self._reader, timeout=self._card_wait)
            try:
                card = JpkiCard.open(connection)
                certificate = card.read_auth_certificate()
                card.verify_pin(pin)
                signature = card.sign(challenge)
            finally:
                connection.close()
        finally:
            self._operation.release()
        return CardAnswer(certificate_der=certificate, signature=signature)
