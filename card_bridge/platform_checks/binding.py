"""Which MyKey ID a card belongs to: an opaque keyed identifier, kept off-chain.

A certificate maps to a MyKey ID through its `CardKeyId`: HMAC-SHA256, keyed with a platform
secret, over the certificate's SubjectPublicKeyInfo (DER) with a domain-separation label.

Why the public key and not issuer + serial: the key is exactly what the card proves it holds when
it signs a challenge, so the identifier is tied to the proof and not to how J-LIS numbers its
certificates; the serial is an issuance number printed into every copy of the certificate and
must never become a customer ID (nor, through an unkeyed hash, a guessable one). Keyed, the value
means nothing outside the platform and cannot be linked with other services' records; it is
never written on-chain (the ledger sees only MyKey IDs).

A renewed certificate has a new key, so it needs re-binding: either the previous card proves
the old binding (its key signs a challenge, checked with `Purpose.PROVE_PREVIOUS_BINDING`), or
the municipality re-binds after checking the resident in person. Either way the old identifier is
retired in the same store operation, so one MyKey ID has at most one active card.

Invariants: only an `AuthenticatedCard` (a certificate whose key just signed a platform
challenge) is ever bound or looked up; a card is bound to at most one MyKey ID, a MyKey ID to
at most one card at a time; the binding store sits behind the `BindingStore` Protocol (memory
here; the API adds SQL).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NewType, Protocol

from cryptography.hazmat.primitives import serialization

from card_bridge.platform_checks.authentication import AuthenticatedCard
from card_bridge.platform_checks.certificates import Purpose

MykeyId = NewType("MykeyId", str)
"""マイキーID: 8 half-width upper-case letters and digits, chosen by the resident."""

CardKeyId = NewType("CardKeyId", bytes)
"""The opaque 32-byte keyed identifier of one auth key; never shown, never on-chain."""

MYKEY_ID_PATTERN = re.compile(r"[A-Z0-9]{8}")
CARD_KEY_ID_LABEL = b"mykey-ledger/card-key-id/v1\x00"
MIN_SECRET_BYTES = 32


class BindingError(Exception):
    """Base of the binding service's errors; the message is for a person."""


class InvalidMykeyId(BindingError, ValueError):
    """Not 8 half-width upper-case letters and digits."""


class CardAlreadyBound(BindingError):
    """The card is already bound to a MyKey ID."""


class MykeyIdAlreadyBound(BindingError):
    """The MyKey ID already has an active card."""


class CardNotBound(BindingError):
    """No MyKey ID is bound to this card."""


class PreviousBindingNotProved(BindingError):
    """The card offered as proof of the old binding is not (or not properly) authenticated."""


def parse_mykey_id(text: str) -> MykeyId:
    """Return `text` as a MyKey ID; raise InvalidMykeyId."""
    if MYKEY_ID_PATTERN.fullmatch(text) is None:
        raise InvalidMykeyId("a MyKey ID is 8 half-width upper-case letters (A-Z) and digits (0-9)")
    return MykeyId(text)


def card_key_id(card: AuthenticatedCard, platform_secret: bytes) -> CardKeyId:
    """Return HMAC-SHA256(secret, label || SubjectPublicKeyInfo DER) of the card's auth key."""
    if len(platform_secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the platform binding secret must be at least {MIN_SECRET_BYTES} bytes")
    spki = card.certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hmac.new(platform_secret, CARD_KEY_ID_LABEL + spki, hashlib.sha256).digest()
    return CardKeyId(digest)


class BindingMethod(enum.Enum):
    """How a binding came about, kept for the audit trail."""

    REGISTRATION = "registration"
    PREVIOUS_CARD = "previous-card"
    MUNICIPALITY = "municipality"


@dataclass(frozen=True)
class Binding:
    """One card bound to one MyKey ID; `retired_at` is set when a renewed card replaced it."""

    card_key_id: CardKeyId
    mykey_id: MykeyId
    bound_at: datetime
    method: BindingMethod
    municipality_code: str | None = None
    retired_at: datetime | None = None


class BindingStore(Protocol):
    """Where bindings live (off-chain). Implementations make `add` and `replace` atomic."""

    def active_by_card(self, card_key_id: CardKeyId) -> Binding | None:
        """Return the active binding of this card, or None."""
        ...

    def active_by_mykey_id(self, mykey_id: MykeyId) -> Binding | None:
        """Return the active binding of this MyKey ID, or None."""
        ...

    def add(self, binding: Binding) -> None:
        """Store a new binding; raise CardAlreadyBound or MykeyIdAlreadyBound on a conflict."""
        ...

    def replace(self, retired: CardKeyId, binding: Binding) -> None:
        """Retire `retired` (at `binding.bound_at`) and add `binding`, both or neither.

        Raises CardNotBound when `retired` is not active, CardAlreadyBound when the new card
        already has a binding.
        """
        ...


class MemoryBindingStore:
    """`BindingStore` in a dict, for tests and `mykey dev`; keeps retired rows for audit."""

    def __init__(self) -> None:
        self.rows: list[Binding] = []

    def active_by_card(self, card_key_id: CardKeyId) -> Binding | None:
        """See `BindingStore.active_by_card`."""
        return next(
            (row for row in self.rows if row.card_key_id == card_key_id and not row.retired_at),
            None,
        )

    def active_by_mykey_id(self, mykey_id: MykeyId) -> Binding | None:
        """See `BindingStore.active_by_mykey_id`."""
        return next(
            (row for row in self.rows if row.mykey_id == mykey_id and not row.retired_at), None
        )

    def add(self, binding: Binding) -> None:
        """See `BindingStore.add`."""
        if self.active_by_card(binding.card_key_id) is not None:
            raise CardAlreadyBound("this card is already bound to a MyKey ID")
        if self.active_by_mykey_id(binding.mykey_id) is not None:
            raise MykeyIdAlreadyBound(f"MyKey ID {binding.mykey_id} already has a card")
        self.rows.append(binding)

    def replace(self, retired: CardKeyId, binding: Binding) -> None:
        """See `BindingStore.replace`."""
        old = self.active_by_card(retired)
        if old is None:
            raise CardNotBound("the card to be replaced has no active binding")
        if self.active_by_card(binding.card_key_id) is not None:
            raise CardAlreadyBound("the renewed card is already bound to a MyKey ID")
        self.rows[self.rows.index(old)] = replace(old, retired_at=binding.bound_at)
        self.rows.append(binding)


class BindingService:
    """Binds authenticated cards to MyKey IDs and re-binds renewed certificates."""

    def __init__(self, store: BindingStore, platform_secret: bytes) -> None:
        if len(platform_secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"the platform binding secret must be at least {MIN_SECRET_BYTES} bytes"
            )
        self._store = store
        self._secret = platform_secret

    def bind(self, card: AuthenticatedCard, mykey_id: MykeyId) -> Binding:
        """Bind a newly registering resident's card; raise CardAlreadyBound, MykeyIdAlreadyBound."""
        _require_authentication(card)
        binding = Binding(
            self._key_id(card),
            parse_mykey_id(mykey_id),
            card.authenticated_at,
            BindingMethod.REGISTRATION,
        )
        self._store.add(binding)
        return binding

    def identify(self, card: AuthenticatedCard) -> MykeyId:
        """Return the MyKey ID of an authenticated card; raise CardNotBound."""
        _require_authentication(card)
        binding = self._store.active_by_card(self._key_id(card))
        if binding is None:
            raise CardNotBound("this card is not bound to a MyKey ID: register first")
        return binding.mykey_id

    def rebind_with_previous_card(
        self, previous: AuthenticatedCard, renewed: AuthenticatedCard
    ) -> Binding:
        """Move the previous card's MyKey ID to the renewed card; both just signed challenges.

        Raises PreviousBindingNotProved, CardNotBound, CardAlreadyBound.
        """
        if previous.purpose is not Purpose.PROVE_PREVIOUS_BINDING:
            raise PreviousBindingNotProved(
                "the previous card must be checked for proving its binding"
            )
        _require_authentication(renewed)
        old = self._store.active_by_card(self._key_id(previous))
        if old is None:
            raise CardNotBound("the previous card is not bound to a MyKey ID")
        binding = Binding(
            self._key_id(renewed),
            old.mykey_id,
            renewed.authenticated_at,
            BindingMethod.PREVIOUS_CARD,
        )
        self._store.replace(old.card_key_id, binding)
        return binding

    def rebind_by_municipality(
        self, mykey_id: MykeyId, renewed: AuthenticatedCard, *, municipality_code: str
    ) -> Binding:
        """Re-bind after the municipality checked the resident in person (old card lost or renewed).

        Raises CardNotBound when the MyKey ID has no card to replace, CardAlreadyBound.
        """
        _require_authentication(renewed)
        old = self._store.active_by_mykey_id(parse_mykey_id(mykey_id))
        if old is None:
            raise CardNotBound(f"MyKey ID {mykey_id} has no card to replace: register it instead")
        binding = Binding(
            self._key_id(renewed),
            old.mykey_id,
            renewed.authenticated_at,
            BindingMethod.MUNICIPALITY,
            municipality_code=municipality_code,
        )
        self._store.replace(old.card_key_id, binding)
        return binding

    def _key_id(self, card: AuthenticatedCard) -> CardKeyId:
        return card_key_id(card, self._secret)


def _require_authentication(card: AuthenticatedCard) -> None:
    if card.purpose is not Purpose.AUTHENTICATION:
        raise PreviousBindingNotProved(
            "a card checked only for proving an old binding cannot be bound or identified"
        )
