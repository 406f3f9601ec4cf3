"""The Python EIP-712 helper and the contract agree on the type hash and the domain."""

from __future__ import annotations

import pytest
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

from contracts.attestation import ATTESTATION_FIELDS, Attestation, InvalidAttestation, typed_data
from contracts.domain import Action, MunicipalityCode, MykeyId, Points
from tests.contracts.harness import KAWASAKI, Harness


def test_type_hash_and_domain_separator_match_the_contract(ledger: Harness) -> None:
    fields = ",".join(f"{f['type']} {f['name']}" for f in ATTESTATION_FIELDS)
    assert ledger.client.call("PointLedger", "ATTESTATION_TYPEHASH") == keccak(
        text=f"Attestation({fields})"
    )
    attestation = Attestation(
        action=Action.REDEEM,
        mykey_id=MykeyId("A01B2C3D"),
        municipality=MunicipalityCode(KAWASAKI),
        amount=Points(1),
        business=3,
        nonce=7,
        deadline=10**10,
        evidence_hash=b"\x00" * 32,
    )
    document = typed_data(
        attestation,
        chain_id=ledger.client.deployment.chain_id,
        verifying_contract=ledger.client.deployment.ledger,
    )
    signable = encode_typed_data(full_message=document)
    # EIP-191 version 0x01: the header is the domain separator.
    assert signable.header == ledger.client.call("PointLedger", "domainSeparator")


def test_attestation_fields_are_checked_before_signing() -> None:
    with pytest.raises(InvalidAttestation, match="32 bytes"):
        Attestation(
            Action.REDEEM, MykeyId("A01B2C3D"), MunicipalityCode(14130), Points(1), 0, 1, 1, b"\x00"
        )
    with pytest.raises(InvalidAttestation, match="at least 1 point"):
        Attestation(
            Action.REDEEM,
            MykeyId("A01B2C3D"),
            MunicipalityCode(14130),
            Points(0),
            0,
            1,
            1,
            b"\x00" * 32,
        )
