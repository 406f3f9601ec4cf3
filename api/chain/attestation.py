"""The platform attestation signer: the platform's half of two-party spending.

It signs an EIP-712 `Attestation` (contracts.attestation) only for an action whose statement the
resident's card has just signed; the evidence (statement + card signature) stays off-chain and
only its keccak-256 goes into the attestation. Every attestation gets a fresh 256-bit nonce
(single-use on-chain) and a deadline `ttl` seconds after the API's clock, so it can be neither
replayed nor hoarded.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.crypto import keccak

from api.chain.keys import KeyRing
from api.clock import Clock
from contracts.attestation import Attestation, new_nonce, sign_attestation
from contracts.deploy import Deployment
from contracts.domain import Action, MunicipalityCode, MykeyId, Points


@dataclass(frozen=True)
class SignedAttestation:
    """An attestation and the verifier's 65-byte signature over it."""

    attestation: Attestation
    signature: bytes


class PlatformAttestor:
    """Signs attestations with the platform verifier key for one deployment."""

    def __init__(
        self, keys: KeyRing, verifier: str, deployment: Deployment, clock: Clock, ttl: int
    ) -> None:
        self._key = keys.key_of(verifier)
        self._deployment = deployment
        self._clock = clock
        self._ttl = ttl

    def attest(
        self,
        *,
        action: Action,
        mykey_id: str,
        municipality: int,
        amount: int,
        business: int,
        evidence: bytes,
    ) -> SignedAttestation:
        """Return a signed attestation of `action` whose evidence hash is keccak(`evidence`)."""
        attestation = Attestation(
            action=action,
            mykey_id=MykeyId(mykey_id),
            municipality=MunicipalityCode(municipality),
            amount=Points(amount),
            business=business,
            nonce=new_nonce(),
            deadline=self._clock.now() + self._ttl,
            evidence_hash=keccak(evidence),
        )
        signature = sign_attestation(
            self._key,
            attestation,
            chain_id=self._deployment.chain_id,
            verifying_contract=self._deployment.ledger,
        )
        return SignedAttestation(attestation, signature)
