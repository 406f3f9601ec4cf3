"""What the API needs from parts built elsewhere: the ledger and the card checks, as Protocols.

The API reaches the ledger only through JSON-RPC; the adapters that do so (web3.py) and the
adapter over card_bridge's JPKI checks implement these Protocols in a later step. Until then
`create_app` is given whichever implementation the caller has (fakes in unit tests,
`UnavailableLedger` / `UnavailableCardVerifier` when serving without a chain), so no service
imports a concrete ledger or card module.

Adapters report outages as `api.errors.LedgerUnavailable` and a bad card answer as
`api.errors.CardVerificationFailed`; they never return partial results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType, Protocol

from api.errors import LedgerUnavailable
from api.identifiers import MunicipalityCode, MykeyId
from api.messages import Message

TransactionHash = NewType("TransactionHash", str)
"""0x-prefixed 32-byte hash of a final ledger transaction."""

CertificateFingerprint = NewType("CertificateFingerprint", str)
"""Lower-case hex SHA-256 of the DER auth certificate: what a MyKey ID is bound to off-chain."""


@dataclass(frozen=True)
class VerifiedCard:
    """A card whose holder just proved possession (PIN + signature over our challenge).

    Holds no name, address or Individual Number: the auth certificate carries none.
    """

    certificate_fingerprint: CertificateFingerprint
    certificate_not_after: int
    """End of the auth certificate's validity (Unix seconds); a renewal brings a new one."""


class CardVerifier(Protocol):
    """JPKI challenge-response checks (card_bridge)."""

    def verify_challenge_response(
        self, *, challenge: bytes, certificate_der: bytes, signature: bytes, now: int
    ) -> VerifiedCard:
        """Check that `signature` is the certificate's key signing `challenge` and the
        certificate chains to the JPKI CA and is valid at `now`.

        Returns the verified card; raises CardVerificationFailed (with the reason) otherwise.
        """
        ...


class MykeyIdLedger(Protocol):
    """The MyKey ID registry on the ledger."""

    def is_mykey_id_taken(self, mykey_id: MykeyId) -> bool:
        """Return True when `mykey_id` is registered (or revoked: IDs are never reused)."""
        ...

    def register_mykey_id(
        self, *, mykey_id: MykeyId, home_municipality: MunicipalityCode
    ) -> TransactionHash:
        """Register `mykey_id` with its home municipality; return the hash once final.

        Raises MykeyIdTaken if someone registered it first, LedgerUnavailable on outage.
        """
        ...


Points = NewType("Points", int)
"""Municipal points; 1 point = 1 yen."""


class PointsLedger(Protocol):
    """Point movements on the ledger that the API submits for staff and terminals."""

    def grant_points(
        self,
        *,
        mykey_id: MykeyId,
        municipality: MunicipalityCode,
        points: Points,
        activity: str,
        reference: bytes,
    ) -> TransactionHash:
        """Grant administrative points; return the hash once the transaction is final.

        `reference` (32 bytes) goes on-chain with the grant so an interrupted submission can be
        found again. Raises GrantRefused with the ledger's reason (unknown or revoked MyKey ID,
        budget exhausted, municipality paused) and LedgerUnavailable on an outage, both only
        when nothing was submitted; SubmissionInDoubt when it was sent but not seen final.
        """
        ...


_NO_LEDGER = Message(
    "台帳に接続できません。しばらくしてからもう一度お試しください。",
    "The ledger cannot be reached. Please try again later.",
)
_NO_CARD_CHECKS = Message(
    "カードの確認機能を利用できません。しばらくしてからもう一度お試しください。",
    "Card checks are not available. Please try again later.",
)


class UnavailableLedger:
    """A ledger port for serving without a chain: every call reports the ledger unavailable."""

    def is_mykey_id_taken(self, mykey_id: MykeyId) -> bool:
        """Raise LedgerUnavailable."""
        raise LedgerUnavailable(_NO_LEDGER)

    def register_mykey_id(
        self, *, mykey_id: MykeyId, home_municipality: MunicipalityCode
    ) -> TransactionHash:
        """Raise LedgerUnavailable."""
        raise LedgerUnavailable(_NO_LEDGER)


class UnavailablePointsLedger:
    """A points port for serving without a chain: every call reports the ledger unavailable."""

    def grant_points(
        self,
        *,
        mykey_id: MykeyId,
        municipality: MunicipalityCode,
        points: Points,
        activity: str,
        reference: bytes,
    ) -> TransactionHash:
        """Raise LedgerUnavailable."""
        raise LedgerUnavailable(_NO_LEDGER)


class UnavailableCardVerifier:
    """A card port for serving without the card checks: every call reports them unavailable."""

    def verify_challenge_response(
        self, *, challenge: bytes, certificate_der: bytes, signature: bytes, now: int
    ) -> VerifiedCard:
        """Raise LedgerUnavailable (the service that checks cards is not there)."""
        raise LedgerUnavailable(_NO_CARD_CHECKS)
