"""The virtual card desk: answers the registration card step in-process (tests and dev only).

A browser cannot talk to a card reader itself; in production the card bridge on the resident's PC
answers the challenge. For tests and `mykey dev`, this desk hands each registration a fresh
virtual My Number Card (`card_bridge.virtual_card`) and talks to it through the same JPKI layer the
counter uses (`card_bridge.jpki.JpkiCard`), APDU by APDU: SELECT, READ BINARY, VERIFY, SIGN. It is
never enabled unless a `VirtualCardDesk` is passed to the pages.

Invariant: the PIN is only handed to the card's VERIFY once; it is neither logged nor kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

from api.pages.settings import CardAnswer, VirtualCardRefused
from card_bridge.errors import InvalidPinFormat, PinLocked, WrongPin
from card_bridge.jpki import JpkiCard
from card_bridge.virtual_card.card import VirtualMyNumberCard
from card_bridge.virtual_card.issuance import TestAuthority, issue_card

TEST_CARD_PIN = "1234"
"""The auth PIN of every card this desk issues; shown on the page, since it is a test card."""


class _InProcessTransport:
    """A transport that hands APDUs straight to a virtual card."""

    def __init__(self, card: VirtualMyNumberCard) -> None:
        self._card = card

    def transmit(self, command: bytes) -> bytes:
        return self._card.process(command)


class FreshVirtualCards:
    """A desk that issues a new virtual card (PIN `TEST_CARD_PIN`) for every registration.

    The same card stays in the slot until it answers a challenge (so wrong PINs count down on it,
    as on a real card) or locks; then the next registration gets a new one. Each card that
    answered is kept by its certificate's fingerprint, so its holder can later sign a My Page
    action (placing reserved points) with it, as they would with their own card.
    """

    def __init__(
        self,
        authority: TestAuthority,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._authority = authority
        self._now = now
        self.issued: list[VirtualMyNumberCard] = []
        self._current: VirtualMyNumberCard | None = None
        self._by_fingerprint: dict[str, VirtualMyNumberCard] = {}

    def answer_challenge(self, *, challenge: bytes, pin: str) -> CardAnswer:
        """Sign `challenge` with the card in the slot after VERIFY with `pin`.

        Raises VirtualCardRefused.
        """
        card = self._current
        if card is None:
            card = VirtualMyNumberCard(issue_card(self._authority, self._now()), pin=TEST_CARD_PIN)
            self.issued.append(card)
            self._current = card
        try:
            answer = _sign(card, challenge, pin)
        except VirtualCardRefused as refusal:
            if refusal.tries_left == 0:
                self._current = None
            raise
        self._current = None
        self._by_fingerprint[hashlib.sha256(answer.certificate_der).hexdigest()] = card
        return answer

    def sign_with_card(self, *, certificate_fingerprint: str, data: bytes, pin: str) -> CardAnswer:
        """Sign `data` with the card this desk issued whose certificate has the fingerprint."""
        card = self._by_fingerprint.get(certificate_fingerprint)
        if card is None:
            raise VirtualCardRefused(
                "このマイキーIDの仮想カードが見つかりません。",
                "No virtual card of this MyKey ID is known to this desk.",
            )
        return _sign(card, data, pin)


def _sign(card: VirtualMyNumberCard, data: bytes, pin: str) -> CardAnswer:
    """Read the certificate, VERIFY `pin` once, sign `data`; raise VirtualCardRefused."""
    card.power_on()
    jpki = JpkiCard.open(_InProcessTransport(card))
    certificate = jpki.read_auth_certificate()
    try:
        jpki.verify_pin(pin)
    except InvalidPinFormat as error:
        raise VirtualCardRefused(
            "暗証番号は4ケタの数字で入力してください。",
            "The PIN is 4 digits.",
        ) from error
    except WrongPin as error:
        raise VirtualCardRefused(
            f"暗証番号が正しくありません（残り{error.tries_left}回）。",
            f"The PIN is not correct ({error.tries_left} tries left).",
            tries_left=error.tries_left,
        ) from error
    except PinLocked as error:
        raise VirtualCardRefused(
            "暗証番号がロックされています。市区町村の窓口で解除してください。",
            "The PIN is locked. Have it reset at your municipality's counter.",
            tries_left=0,
        ) from error
    return CardAnswer(certificate_der=certificate, signature=jpki.sign(data))
