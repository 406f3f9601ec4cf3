"""EIP-712 attestations: the platform verifier's signature that a resident's card signed an action.

Two-party spending: a resident's points move only when (1) a terminal registered for the action
sends the transaction and (2) it carries an `Attestation` signed by a verifier key the platform
registered on-chain. The platform signs only after checking the card's JPKI signature over the
same fields off-chain; it keeps that evidence and puts only its hash here. Nonces are single-use
on-chain and deadlines are enforced against the block time, so an attestation cannot be replayed
or hoarded. Typed data: EIP-712, domain "MyKeyPointLedger" version "1".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

from contracts.domain import Action, MunicipalityCode, MykeyId, Points, mykey_id_bytes

DOMAIN_NAME = "MyKeyPointLedger"
DOMAIN_VERSION = "1"

ATTESTATION_FIELDS = [
    {"name": "action", "type": "uint8"},
    {"name": "mykeyId", "type": "bytes8"},
    {"name": "municipality", "type": "uint32"},
    {"name": "amount", "type": "uint256"},
    {"name": "business", "type": "uint64"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint64"},
    {"name": "evidenceHash", "type": "bytes32"},
]


class InvalidAttestation(ValueError):
    """An attestation field is out of range (checked before signing, not only on-chain)."""


@dataclass(frozen=True)
class Attestation:
    """What the verifier signs. `business` is 0 when the acting terminal is the municipality's."""

    action: Action
    mykey_id: MykeyId
    municipality: MunicipalityCode
    amount: Points
    business: int
    nonce: int
    deadline: int
    evidence_hash: bytes

    def __post_init__(self) -> None:
        if len(self.evidence_hash) != 32:
            raise InvalidAttestation("evidence_hash must be 32 bytes (keccak-256 of the evidence)")
        if self.amount <= 0:
            raise InvalidAttestation(f"amount must be at least 1 point, not {self.amount}")
        if not 0 <= self.nonce < 2**256:
            raise InvalidAttestation("nonce must fit in uint256")

    def as_abi_tuple(self) -> tuple[int, bytes, int, int, int, int, int, bytes]:
        """Return the struct as the contract function's `Attestation` argument."""
        return (
            int(self.action),
            mykey_id_bytes(self.mykey_id),
            int(self.municipality),
            int(self.amount),
            self.business,
            self.nonce,
            self.deadline,
            self.evidence_hash,
        )


def new_nonce() -> int:
    """Return a fresh random 256-bit nonce (single-use on-chain)."""
    return secrets.randbits(256)


def typed_data(
    attestation: Attestation, *, chain_id: int, verifying_contract: str
) -> dict[str, Any]:
    """Return the EIP-712 typed-data document of `attestation` for the PointLedger proxy."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Attestation": ATTESTATION_FIELDS,
        },
        "primaryType": "Attestation",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": verifying_contract,
        },
        "message": {
            "action": int(attestation.action),
            "mykeyId": mykey_id_bytes(attestation.mykey_id),
            "municipality": int(attestation.municipality),
            "amount": int(attestation.amount),
            "business": attestation.business,
            "nonce": attestation.nonce,
            "deadline": attestation.deadline,
            "evidenceHash": attestation.evidence_hash,
        },
    }


def sign_attestation(
    verifier_key: str | bytes, attestation: Attestation, *, chain_id: int, verifying_contract: str
) -> bytes:
    """Return the 65-byte signature (r, s, v) of `attestation` by the verifier key."""
    message = encode_typed_data(
        full_message=typed_data(
            attestation, chain_id=chain_id, verifying_contract=verifying_contract
        )
    )
    signed = Account.sign_message(message, verifier_key)
    return bytes(signed.signature)
